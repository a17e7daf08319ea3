"""A small injection-recovery calibration through the whole chain (the full study is benchmarks/calibration.py)."""

import numpy as np
import pytest

from atompump.calibration import CalibrationRun, calibration_study, recover_run


def test_pulls_of_a_small_study_are_calibrated():
    study = calibration_study(CalibrationRun(repeats=3), n_runs=60, seed=7, nu_true_values=np.linspace(0.8, 1.05, 6))
    p = study["pulls"]
    # 60 runs: standard errors are 0.13 on the mean and 0.09 on the std; bounds at ~2.5 of them
    assert abs(p["mean"]) < 0.33
    assert 0.78 < p["std"] < 1.23
    assert {r["nu_true"] for r in study["runs"]} == set(np.linspace(0.8, 1.05, 6))


def test_runs_are_reproducible_and_recover_nu():
    run = CalibrationRun(nu_true=0.9, position_jitter_um=0.05, repeats=4)
    first = recover_run(run, seed=3)
    assert first == recover_run(run, seed=3)
    assert first["nu"] == pytest.approx(0.9, abs=4 * first["nu_err"])
    assert first["n_used"] == 40


def test_study_needs_two_runs():
    with pytest.raises(ValueError, match="at least 2 runs"):
        calibration_study(CalibrationRun(), n_runs=1)
