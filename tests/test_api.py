"""nnbook from Python: train, load_runs and ensemble, on a slice of the real MNIST; the same
runs and numbers as the command line, which goes through the same functions."""

from pathlib import Path

import pytest

import nnbook
from nnbook.config import load_config
from nnbook.errors import ConfigError, NnbookError
from nnbook.runs.directory import read_metrics
from nnbook.statistics import best_by_validation

from .cli import read_json, run_dirs


def numbers(records) -> list[tuple]:
    """What an epoch computed (its wall time aside)."""
    return [(r.epoch, r.train_cost, r.validation_accuracy, r.test_accuracy) for r in records]


@pytest.fixture
def slice_of(mnist_slice):
    """Keyword overrides that train on the data slice, small and short."""
    return {"data": str(mnist_slice), "epochs": 2}


def test_train_returns_each_runs_directory_summary_and_metrics_quietly(tmp_path, slice_of, capsys):
    seen = []
    experiment = nnbook.train("ch6_shallow", repeats=2, runs_dir=tmp_path, **slice_of,
                              on_epoch=lambda seed, record: seen.append((seed, record)))
    assert capsys.readouterr() == ("", "")  # quiet unless asked
    assert experiment.name == "ch6_shallow" and [r.seed for r in experiment.runs] == [0, 1]
    assert sorted(r.path for r in experiment.runs) == run_dirs(tmp_path)
    for run in experiment.runs:
        assert run.status == "completed" and run.config.epochs == 2 and run.config.seed == run.seed
        assert run.summary.test_accuracy == read_json(run.path / "summary.json")["test_accuracy"]
        assert numbers(run.metrics) == numbers(read_metrics(run.path)) and len(run.metrics) == 2
    # The callback saw every run's every epoch, as it happened, with the records the files hold.
    assert [(seed, r.epoch) for seed, r in seen] == [(0, 1), (1, 1), (0, 2), (1, 2)]
    assert [r for seed, r in seen if seed == 1] == experiment.runs[1].metrics
    assert experiment.best is best_by_validation(experiment.runs)
    assert experiment.test_accuracy.n == 2
    # What train returns is what load_runs reads back later.
    assert nnbook.load_runs(tmp_path) == [experiment]


def test_the_api_and_the_command_line_train_the_same_runs(cli, tmp_path, mnist_slice, slice_of):
    result = cli("train", "ch6_shallow", "--set", f"data={mnist_slice}", "--set", "epochs=2",
                 "--runs-dir", tmp_path / "cli", "--quiet")
    assert result.returncode == 0, result.stderr
    [from_cli] = nnbook.load_runs(tmp_path / "cli")
    from_api = nnbook.train("ch6_shallow", runs_dir=tmp_path / "api", **slice_of)
    assert from_api.key == from_cli.key and from_api.config == from_cli.config
    assert numbers(from_api.runs[0].metrics) == numbers(from_cli.runs[0].metrics)


def test_a_config_as_a_path_a_dict_or_a_config_with_python_overrides(tmp_path, slice_of):
    path = nnbook.config.SHIPPED_DIR / "ch6_shallow.yaml"
    as_dict = {**load_config(path).model_dump(mode="json"), "name": "mine"}
    experiment = nnbook.train(as_dict, runs_dir=tmp_path, **{"layers.0.units": 20}, **slice_of)
    assert experiment.name == "mine" and experiment.config.layers[0].units == 20
    again = nnbook.train(load_config(path), runs_dir=tmp_path, train_limit=500, **slice_of)
    assert again.config.train_limit == 500 and again.key != experiment.key
    from_path = nnbook.train(path, runs_dir=tmp_path, **slice_of)
    assert from_path.name == "ch6_shallow" and from_path.config.layers[0].units == 100


@pytest.mark.parametrize("config, overrides, message", [
    ("ch6_shallow", {"epoch": 1}, r"unknown key 'epoch' — did you mean 'epochs'\?"),
    ("ch6_shallow", {"eta": -1.0}, r"ch6_shallow.yaml: eta = -1.0: "),
    ("ch6_shalow", {}, r"^ch6_shalow: no such config file, nor a shipped config \(did you mean ch6_shallow\?"),
    ({"epochs": 1}, {}, r"^the config given: "),
    (3, {}, r"^config: a int; give a path, a shipped config's name"),
])
def test_a_mistake_is_one_line_naming_it_before_anything_is_written(tmp_path, config, overrides, message):
    """One line a problem (a config with several names each, config/loading.py), and nothing written."""
    with pytest.raises(ConfigError, match=message) as error:
        nnbook.train(config, runs_dir=tmp_path / "runs", **overrides)
    lines = str(error.value).splitlines()
    assert all(line.startswith(lines[0].split(":")[0] + ":") for line in lines), lines
    assert not (tmp_path / "runs").exists()


def test_load_runs_groups_by_experiment_and_passes_over_what_is_no_run(tmp_path, slice_of):
    one = nnbook.train("ch6_shallow", runs_dir=tmp_path, **{**slice_of, "epochs": 1})
    two = nnbook.train("ch6_shallow", repeats=2, runs_dir=tmp_path, **slice_of)
    output = tmp_path / "ensembles" / "vote"  # an ensemble's output folder among the runs
    output.mkdir(parents=True)
    (output / "ensemble.json").write_text("{}")
    experiments = nnbook.load_runs(tmp_path)
    assert [(e.label, len(e.runs)) for e in experiments] == [("ch6_shallow", 1), ("ch6_shallow (epochs=2)", 2)]
    assert experiments == [one, two] != [one]
    assert nnbook.load_runs(str(tmp_path / "ch6_shallow-*")) == experiments  # a glob
    assert nnbook.load_runs([r.path for r in two.runs]) == [two]  # a list of run directories
    with pytest.raises(ConfigError, match="matches nothing"):
        nnbook.load_runs(str(tmp_path / "ch5_*"))
    with pytest.raises(ConfigError, match="no such run directory"):
        nnbook.load_runs(tmp_path / "nowhere")


def test_ensemble_votes_as_the_command_line_does(cli, tmp_path, slice_of):
    experiment = nnbook.train("ch6_shallow", repeats=3, runs_dir=tmp_path / "runs", **slice_of)
    result = cli("ensemble", *(r.path for r in experiment.runs), "--weights", "last", "--out", tmp_path / "cli")
    assert result.returncode == 0, result.stderr
    voted = nnbook.ensemble(experiment, weights="last")
    record = read_json(tmp_path / "cli" / "ensemble.json")
    assert (voted.method, voted.weights, voted.accuracy) == ("vote", "last", record["accuracy"])
    assert voted.members == [r.path for r in experiment.runs] == [Path(m["path"]) for m in record["members"]]
    assert voted.errors == [e["index"] for e in record["errors"]]
    assert voted.member_accuracies == [m["test_accuracy"] for m in record["members"]]
    best = nnbook.ensemble(experiment.runs, method="mean")  # the best-validation networks', written nowhere
    assert (best.method, best.weights) == ("mean", "best") and not best.skipped
    assert best.member_accuracies == [r.test_accuracy for r in experiment.runs]  # each at its best epoch
    with pytest.raises(ConfigError, match=r"--weights 'first': choose one of best, last"):
        nnbook.ensemble(experiment, weights="first")
    with pytest.raises(ConfigError, match="an ensemble needs at least 2 finished runs"):
        nnbook.ensemble(experiment.runs[:1])


def test_rows_are_plain_dicts_and_to_frame_needs_pandas_only_when_called(tmp_path, slice_of):
    experiment = nnbook.train("ch6_shallow", repeats=2, runs_dir=tmp_path, **slice_of)
    rows = experiment.rows()
    assert [(row["seed"], row["epoch"]) for row in rows] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert rows[3]["validation_accuracy"] == experiment.runs[1].metrics[1].validation_accuracy
    summaries = experiment.summary_rows()
    assert [(s["seed"], s["status"], s["epochs"]) for s in summaries] == [(0, "completed", 2), (1, "completed", 2)]
    try:
        import pandas  # noqa: F401 - not a dependency of nnbook
    except ImportError:
        with pytest.raises(NnbookError, match=r"^to_frame\(\) needs pandas, which nnbook does not install"):
            experiment.to_frame()
    else:
        frame = experiment.to_frame()
        assert list(frame["epoch"]) == [1, 2, 1, 2] and len(experiment.summary_frame()) == 2
