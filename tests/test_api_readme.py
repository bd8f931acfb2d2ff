"""The README's notebook example, run as written (the real data, a slice of it by train_limit),
in a directory of its own: what it prints has the shape the README shows."""

import re

from .cli import ROOT


def readme_example() -> str:
    section = ROOT.joinpath("README.md").read_text().split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


def test_the_readme_notebook_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md (From Python)", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.splitlines()
    epochs = [line for line in printed if line.startswith("seed ")]
    assert [line.split(":")[0] for line in epochs] == [f"seed {s}, epoch {e}" for e in (1, 2) for s in (0, 1, 2)]
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 3 and all(name.startswith("ch6_shallow-") for name in runs)
    assert re.fullmatch(r"<Experiment ch6_shallow: 3 runs, test \d+\.\d\d% ± \d+\.\d\d \(mean ± std of 3\)>",
                        printed[6])
    best_path, best_seed, best_test = printed[7].split()
    assert best_path.startswith("runs/ch6_shallow-") and best_seed in ("0", "1", "2") and 0 <= float(best_test) <= 1
    assert re.fullmatch(r"<Ensemble vote of 3 \(best networks\): \d+\.\d\d%, \d+ errors>", printed[9])
    assert printed[10] == f"[{printed[6]}]"  # load_runs reads back the one experiment train returned
