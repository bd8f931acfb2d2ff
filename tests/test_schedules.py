"""Learning-rate schedules and early-stopping rules, by hand."""

from pathlib import Path

import pytest

from nnbook.config import (EarlyStopping, GeometricSchedule, HalvingSchedule, ListSchedule, StepSchedule,
                           dump_config, load_config)
from nnbook.training.schedules import eta_at, halve_on_plateau, min_improvement, no_improvement, stop_reason

CH3 = Path(__file__).resolve().parents[1] / "configs" / "ch3_784_30_10_xent.yaml"


def run_halving(schedule, eta0, improved_flags):
    """Apply the schedule epoch by epoch; returns [(eta after the epoch, stop)]."""
    eta, stale, out = eta0, 0, []
    for improved in improved_flags:
        eta, stale, stop = halve_on_plateau(schedule, eta, eta0, stale, improved)
        out.append((eta, stop))
        if stop:
            break
    return out


def test_halving_halves_after_ten_stale_epochs_and_restarts_the_count():
    schedule = HalvingSchedule(type="halving")  # patience 10, factor 0.5, stop at 1/128
    out = run_halving(schedule, 0.5, [True] + [False] * 9 + [False] + [False] * 9 + [False])
    etas = [eta for eta, _ in out]
    assert etas[:10] == [0.5] * 10  # 9 stale epochs after a best: not yet
    assert etas[10] == 0.25  # the 10th stale epoch halves
    assert etas[11:20] == [0.25] * 9  # the count restarted at the halving
    assert etas[20] == 0.125
    assert not any(stop for _, stop in out)


def test_a_new_best_resets_the_plateau_count():
    schedule = HalvingSchedule(type="halving", patience=3)
    out = run_halving(schedule, 1.0, [False, False, True, False, False, False])
    assert [eta for eta, _ in out] == [1.0, 1.0, 1.0, 1.0, 1.0, 0.5]


def test_halving_stops_when_eta_reaches_one_128th_of_its_start():
    schedule = HalvingSchedule(type="halving", patience=10)
    out = run_halving(schedule, 0.5, [False] * 1000)
    assert len(out) == 70  # seven halvings, ten stale epochs each
    assert out[-1] == (0.5 / 128, True)
    assert [eta for eta, _ in out[9::10]] == [0.5 / 2 ** k for k in range(1, 8)]
    assert not any(stop for _, stop in out[:-1])


def test_step_schedule():
    schedule = StepSchedule(type="steps", at={21: 0.01, 11: 0.05})
    assert [eta_at(schedule, 0.1, e, 30) for e in (1, 10, 11, 20, 21, 30)] == [0.1, 0.1, 0.05, 0.05, 0.01, 0.01]


def test_list_schedule_holds_its_last_value():
    schedule = ListSchedule(type="list", etas=[0.3, 0.2, 0.1])
    assert [eta_at(schedule, 0.3, e, 10) for e in range(1, 6)] == [0.3, 0.2, 0.1, 0.1, 0.1]


def test_geometric_schedule_goes_from_eta_to_eta_end_by_a_constant_factor():
    schedule = GeometricSchedule(type="geometric", eta_end=1e-6)
    etas = [eta_at(schedule, 1e-3, e, 4) for e in range(1, 5)]
    assert etas == pytest.approx([1e-3, 1e-4, 1e-5, 1e-6], rel=1e-12)
    assert eta_at(schedule, 1e-3, 1, 1) == 1e-3  # a single epoch runs at eta


def test_no_schedule_keeps_eta():
    assert eta_at(None, 0.1, 7, 10) == 0.1


def test_no_improvement_rule():
    assert not no_improvement(stale=9, patience=10)
    assert no_improvement(stale=10, patience=10)
    rule = EarlyStopping(patience=3)
    assert stop_reason(rule, 2, []) is None
    assert stop_reason(rule, 3, []) == "no new best validation accuracy for 3 epochs"
    assert stop_reason(None, 100, [0.5] * 100) is None


def test_min_improvement_rule():
    assert not min_improvement([0.90, 0.91], patience=2, min_delta=0.01)  # too few epochs seen
    assert min_improvement([0.90, 0.905, 0.908], patience=2, min_delta=0.01)  # +0.8 points < 1
    assert not min_improvement([0.90, 0.905, 0.911], patience=2, min_delta=0.01)  # +1.1 points
    assert min_improvement([0.92, 0.90, 0.91], patience=2, min_delta=0.01)  # worse than before
    # the best *before* the window counts, not the epoch just before it
    assert min_improvement([0.95, 0.90, 0.955, 0.951], patience=2, min_delta=0.01)
    rule = EarlyStopping(rule="min_improvement", patience=2, min_delta=0.01)
    assert "rose by 0.80 points in 2 epochs" in stop_reason(rule, 0, [0.90, 0.905, 0.908])


def test_min_delta_defaults_for_its_rule_only():
    assert EarlyStopping(rule="min_improvement", patience=5).min_delta == 0.001
    assert EarlyStopping(patience=5).min_delta is None
    with pytest.raises(ValueError, match="min_delta applies to rule: min_improvement only"):
        EarlyStopping(patience=5, min_delta=0.01)


@pytest.mark.parametrize("schedule", ["{type: steps, at: {11: 0.05, 21: 0.01}}", "{type: halving}",
                                      "{type: list, etas: [0.1, 0.05]}", "{type: geometric, eta_end: 0.001}"])
def test_resolved_schedules_round_trip(tmp_path, schedule):
    first = load_config(CH3, [f"schedule={schedule}", "eta=0.1", "early_stopping={rule: min_improvement, patience: 3}"])
    (tmp_path / "again.yaml").write_text(dump_config(first))
    assert load_config(tmp_path / "again.yaml") == first.model_copy(update={"name": "ch3_784_30_10_xent"})
