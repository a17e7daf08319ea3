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


def test_whole_chain_runs_recover_nu_and_the_oracle_uses_the_same_design(repo_root, tmp_path):
    """Three runs through the simulator's imaging chain (Airy PSF, probe fringes, camera noise, drift, jitter,
    reference shots for cycles > 0, random order) and the workflow's analysis: each recovers nu_true within 4 sigma; the oracle fit
    on the true centres gives a finite pull on the same shots."""
    import yaml

    from atompump.calibration import workflow_calibration_study
    from atompump.config import planned_shot_count

    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    config["simulation"].update(repeats=3, cycles=[0, 1, 2, 3])
    config["fit"].update(n_bootstrap=0)
    study = workflow_calibration_study(config, n_runs=3, workdir=tmp_path, seed=5,
                                       nu_true_values=np.array([0.85, 0.95, 1.05]))
    assert [r["nu_true"] for r in study["runs"]] == [0.85, 0.95, 1.05]
    for run in study["runs"]:
        assert abs(run["pull"]) < 4 and run["nu_err"] < 0.1 and np.isfinite(run["oracle_pull"])
        assert run["n_used"] == planned_shot_count(config) == 24 + 18  # pumped and reference shots, none rejected
    assert study["pulls"]["n"] == 3 and study["chain"] == "workflow"
    assert not any(tmp_path.glob("run-*"))  # each run's files are removed after its analysis
    with pytest.raises(ValueError, match="at least 2 runs"):
        workflow_calibration_study(config, n_runs=1, workdir=tmp_path)
