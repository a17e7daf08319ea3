"""Fit models and analyses: injection-recovery with seeded noise, calibrated errors, model choice, error paths."""

import numpy as np
import pytest

from atompump.fit import (
    PumpData,
    analyse_pump,
    bootstrap_nu,
    direction_consistency,
    direction_differences,
    efficiency_displacement,
    fit_differential,
    fit_model,
    pull_statistics,
    reference_differences,
)

DL = 0.767
SEED_CALM = 0  # synthetic(default_rng(0), err=0.02): reduced chi-square below 1


def synthetic(rng, *, nu=0.97, x0=12.0, repeats=10, err=0.05, jitter=0.0, cycles=(0.0, 1.0, 2.0, 3.0),
              nu_minus=None, drift=0.0, interleaved=True):
    """Pumped shots of both directions; acquisition order interleaved (repeat by repeat) or sorted by cycle."""
    cycle = np.tile(np.repeat(cycles, 2), repeats)
    direction = np.tile([1.0, -1.0], len(cycles) * repeats)
    order = np.arange(cycle.size, dtype=float) if interleaved else np.argsort(np.argsort(cycle, kind="stable"))
    nu_shot = np.where(direction > 0, nu, nu if nu_minus is None else nu_minus)
    x = (x0 + direction * nu_shot * DL * cycle + drift * order + rng.normal(0, err, cycle.size)
         + rng.normal(0, jitter, cycle.size))
    return PumpData.from_arrays(cycle, direction, x, np.full(cycle.size, err), order=order)


def test_linear_recovers_nu_with_closed_form_error():
    data = synthetic(np.random.default_rng(11), err=0.01)
    fit = fit_model(data, "linear", dl_um=DL)
    # var(nu) = sigma^2 / (dl^2 sum (d c)^2) for a symmetric design (mean lever arm zero)
    assert fit.nu_err == pytest.approx(0.01 / DL / np.sqrt(np.sum(data.cycle**2)), rel=1e-6)
    assert abs(fit.nu - 0.97) < 4 * fit.nu_err
    assert not fit.errors_scaled and fit.dof == data.x_um.size - 2
    assert fit.params["x0"][0] == pytest.approx(12.0, abs=5 * fit.params["x0"][1])


def test_linear_pulls_are_unit_normal_over_many_runs():
    rng = np.random.default_rng(5)
    fits = [fit_model(synthetic(rng, repeats=3), "linear", dl_um=DL) for _ in range(300)]
    # with exact per-shot errors the unscaled errors are exact: pulls are N(0, 1)
    raw = [(f.nu - 0.97) / (f.nu_err / np.sqrt(f.reduced_chi2) if f.errors_scaled else f.nu_err) for f in fits]
    stats = pull_statistics(np.array(raw))
    assert abs(stats["mean"]) < 0.2 and 0.88 < stats["std"] < 1.12
    assert stats["coverage_1sigma"] == pytest.approx(0.683, abs=0.06)
    # scaling only when reduced chi^2 > 1 (Birge ratio) can only make the quoted errors more conservative
    quoted = pull_statistics(np.array([(f.nu - 0.97) / f.nu_err for f in fits]))
    assert quoted["std"] <= stats["std"] and quoted["std"] > 0.8


def test_extra_scatter_scales_errors_and_keeps_pulls_calibrated():
    rng = np.random.default_rng(6)
    fits = [fit_model(synthetic(rng, repeats=5, err=0.02, jitter=0.2), "linear", dl_um=DL) for _ in range(200)]
    assert all(f.errors_scaled for f in fits)
    stats = pull_statistics(np.array([(f.nu - 0.97) / f.nu_err for f in fits]))
    assert 0.88 < stats["std"] < 1.12


def test_excess_scatter_keeps_pulls_calibrated_when_per_shot_errors_differ():
    # the default run's situation: a 0.3 um jitter dominates per-shot errors that differ 2.5x between shots
    rng = np.random.default_rng(12)
    pulls, birge, excess = [], [], []
    for _ in range(150):
        data = synthetic(rng, repeats=10, err=1e-9, jitter=0.3, cycles=(0.0, 1.0, 2.0, 3.0, 4.0))
        err = rng.choice([0.004, 0.01], size=data.x_um.size)
        data = PumpData.from_arrays(data.cycle, data.direction, data.x_um + rng.normal(0, err), err)
        fit = fit_model(data, "linear", dl_um=DL)
        pulls.append((fit.nu - 0.97) / fit.nu_err)
        design = np.vstack([np.ones(err.size), data.direction * DL * data.cycle]).T / err[:, None]
        nu_wls = np.linalg.lstsq(design, data.x_um / err, rcond=None)[0][1]  # the weights 1/e_i^2 alone
        birge.append((nu_wls - 0.97) / (fit.nu_err_per_shot_errors * np.sqrt(fit.reduced_chi2)))
        excess.append(fit.excess_scatter_um)
    # the scatter is estimated (REML), the pulls are standard normal (150 runs: std +- 0.06)
    assert np.median(excess) == pytest.approx(0.3, rel=0.05)
    assert 0.85 < pull_statistics(np.array(pulls))["std"] < 1.15
    # the Birge ratio keeps the weights 1/e_i^2: its errors are too small by sqrt(<w^2>) / <w> = 1.235 here
    # (w = 1/e^2 equally often 1/0.004^2 and 1/0.01^2, while every shot scatters by the same jitter)
    w = np.array([1 / 0.004**2, 1 / 0.01**2])
    assert np.sqrt(np.mean(w**2)) / np.mean(w) == pytest.approx(1.235, abs=1e-3)
    assert pull_statistics(np.array(birge))["std"] == pytest.approx(1.235, abs=0.1)


def test_the_excess_scatter_is_the_birge_ratio_for_equal_errors_and_zero_when_the_errors_explain_the_scatter():
    # with equal per-shot errors the REML variance is sum r^2 / (n - p): the Birge ratio exactly
    equal = synthetic(np.random.default_rng(14), repeats=6, err=0.02, jitter=0.2)
    same = fit_model(equal, "linear", dl_um=DL)
    assert same.excess_scatter_um**2 + 0.02**2 == pytest.approx(np.sum(same.residuals_um**2) / same.dof, rel=1e-6)
    assert same.nu_err == pytest.approx(same.nu_err_per_shot_errors * np.sqrt(same.reduced_chi2), rel=1e-6)
    np.testing.assert_allclose(same.sigma_um, np.hypot(0.02, same.excess_scatter_um), rtol=1e-12)
    # no excess scatter when the per-shot errors explain the scatter (reduced chi-square <= 1): errors unchanged
    calm = fit_model(synthetic(np.random.default_rng(SEED_CALM), err=0.02), "linear", dl_um=DL)
    assert calm.reduced_chi2 < 1 and calm.excess_scatter_um == 0.0 and not calm.errors_scaled
    assert calm.nu_err == calm.nu_err_per_shot_errors


def test_one_outlying_shot_with_a_large_error_does_not_inflate_the_scatter_of_all():
    # a live run's situation on real frames: 21 shots with errors 0.02-0.1 um under a 0.3 um jitter, and one faint
    # shot 12 um off with a 2.7 um error (4.5 of its sigmas): REML keeps s near 0.3 um; the moment estimate that
    # sets the refit's reduced chi-square to 1 would give about 0.85 um and triple every error
    rng = np.random.default_rng(16)
    n = 22
    cycle, direction = rng.integers(0, 5, n).astype(float), rng.choice([1.0, -1.0], n)
    err = np.r_[2.7, rng.uniform(0.02, 0.1, n - 1)]
    x = 141.0 + rng.normal(0, 0.3, n) + rng.normal(0, err)
    x[0] = 153.5
    fit = fit_model(PumpData.from_arrays(cycle, direction, x, err), "linear", dl_um=DL)
    assert fit.excess_scatter_um == pytest.approx(0.3, rel=0.3)
    clean = fit_model(PumpData.from_arrays(cycle[1:], direction[1:], x[1:], err[1:]), "linear", dl_um=DL)
    assert fit.nu_err == pytest.approx(clean.nu_err, rel=0.1)


def test_drift_model_removes_the_bias_of_a_slow_drift():
    # shots taken cycle by cycle (not interleaved) while the cloud drifts: the plain linear fit is biased
    data = synthetic(np.random.default_rng(3), err=0.01, drift=0.004, interleaved=False, repeats=10)
    drift = fit_model(data, "linear_drift", dl_um=DL)
    linear = fit_model(data, "linear", dl_um=DL)
    assert abs(drift.nu - 0.97) < 3 * drift.nu_err
    assert drift.extra["drift_um_per_shot"] == pytest.approx(0.004, abs=3 * drift.params["drift"][1])
    assert drift.bic < linear.bic - 10


def test_per_direction_consistency_flags_unequal_slopes():
    equal = fit_model(synthetic(np.random.default_rng(8), err=0.01), "per_direction", dl_um=DL)
    assert abs(direction_consistency(equal)["z"]) < 3
    unequal = fit_model(synthetic(np.random.default_rng(8), err=0.01, nu=1.0, nu_minus=0.9), "per_direction",
                        dl_um=DL)
    check = direction_consistency(unequal)
    assert check["nu_plus"] == pytest.approx(1.0, abs=0.01) and check["nu_minus"] == pytest.approx(0.9, abs=0.01)
    assert check["z"] > 5 and check["p_value"] < 1e-6
    assert unequal.nu == pytest.approx(0.95, abs=0.01)


def test_efficiency_displacement_closed_forms():
    cycles = np.array([0.0, 0.5, 1.0, 2.0, 3.5])
    np.testing.assert_allclose(efficiency_displacement(cycles, 1.0), cycles, atol=1e-12)
    # preparation half-step 1/4 (no loss), crossing 1 whole: (1 + (1 - 2P)) / 4, first half of crossing 2
    beta = 0.9
    p = 1 - beta
    assert efficiency_displacement(np.array([1.0]), beta)[0] == pytest.approx(0.25 + 0.5 * (1 - p) + 0.25 * (1 - 2 * p))
    # the ramp start's own loss enters the preparation half-step only: 1/4 (1 - 2 P_start), then (1 - 2 P_start)
    assert efficiency_displacement(np.array([1.0]), 1.0, start_loss=0.01)[0] == pytest.approx(0.98)
    # every crossing passed diabatically (beta = 0): the atoms stay in their wells
    assert efficiency_displacement(np.array([2.0]), 0.0)[0] == pytest.approx(0.0, abs=1e-12)


def test_efficiency_model_recovers_beta_and_wins_on_curved_data():
    rng = np.random.default_rng(21)
    cycle = np.tile(np.repeat([0.0, 1.0, 2.0, 3.0, 4.0], 2), 8)
    direction = np.tile([1.0, -1.0], 40)
    x = 3.0 + direction * DL * efficiency_displacement(cycle, 0.97) + rng.normal(0, 0.01, cycle.size)
    data = PumpData.from_arrays(cycle, direction, x, np.full(cycle.size, 0.01))
    eff = fit_model(data, "efficiency", dl_um=DL)
    assert eff.extra["beta"] == pytest.approx(0.97, abs=3 * eff.extra["beta_err"])
    assert eff.nu == pytest.approx(efficiency_displacement(np.array([4.0]), 0.97)[0] / 4, abs=3 * eff.nu_err)
    linear = fit_model(data, "linear", dl_um=DL)
    assert eff.bic < linear.bic - 10
    assert analyse_pump(data, dl_um=DL, chern_numbers=[1, -1], model="auto", n_bootstrap=0).headline.model == \
        "efficiency"


def test_pumped_minus_reference_cancels_a_common_drift():
    rng = np.random.default_rng(4)
    n_pairs, err, drift = 60, 0.02, 0.01
    # taken cycle by cycle (so the drift mimics pumping in a plain fit), each pumped shot next to its reference,
    # the order within a pair alternating (P, R), (R, P) as in the experiments
    sequence = np.repeat([1.0, 2.0, 3.0], 2 * n_pairs // 3)
    reference = np.tile([False, True, True, False], n_pairs // 2)
    cycle = np.where(reference, 0.0, sequence)  # a reference is not pumped: 0 cycles, its partner's length
    direction = np.ones(cycle.size)
    order = np.arange(cycle.size, dtype=float)
    x = 5.0 + 0.95 * DL * cycle + drift * order + rng.normal(0, err, cycle.size)
    data = PumpData.from_arrays(cycle, direction, x, np.full(cycle.size, err), order=order, reference=reference,
                                sequence=sequence)
    c, factor, dx, dx_err = reference_differences(data)
    assert c.size == n_pairs and np.all(factor == 1) and np.array_equal(np.unique(c), [1.0, 2.0, 3.0])
    diff = fit_differential(c, factor, dx, dx_err, dl_um=DL, name="differential_reference")
    assert abs(diff.nu - 0.95) < 3 * diff.nu_err
    assert abs(fit_model(data, "linear", dl_um=DL).nu - 0.95) > 0.1  # the plain fit sees the drift as pumping


def test_plus_minus_difference_doubles_the_lever_arm():
    data = synthetic(np.random.default_rng(9), err=0.01)
    c, factor, dx, dx_err = direction_differences(data)
    assert np.all(factor == 2) and c.size == data.x_um.size // 2
    diff = fit_differential(c, factor, dx, dx_err, dl_um=DL, name="differential_direction")
    linear = fit_model(data, "linear", dl_um=DL)
    assert abs(diff.nu - 0.97) < 3 * diff.nu_err
    # same information as the linear fit with a free offset: var(nu) = 2 sigma^2 / (4 dl^2 sum_pairs c^2)
    raw = diff.nu_err / np.sqrt(diff.reduced_chi2) if diff.errors_scaled else diff.nu_err
    assert raw == pytest.approx(np.sqrt(2) * 0.01 / (2 * DL * np.sqrt(np.sum(c**2))), rel=1e-6)
    raw_linear = linear.nu_err / np.sqrt(linear.reduced_chi2) if linear.errors_scaled else linear.nu_err
    assert raw == pytest.approx(raw_linear, rel=1e-6)


def test_bootstrap_agrees_with_the_fit_error():
    data = synthetic(np.random.default_rng(10), repeats=20, err=0.03)
    boot = bootstrap_nu(data, dl_um=DL, n_resamples=2000, seed=1)
    fit = fit_model(data, "linear", dl_um=DL)
    assert boot["nu_std"] == pytest.approx(fit.nu_err, rel=0.15)
    assert boot["nu_mean"] == pytest.approx(fit.nu, abs=fit.nu_err)
    assert bootstrap_nu(data, dl_um=DL, n_resamples=200, seed=1) == bootstrap_nu(data, dl_um=DL, n_resamples=200,
                                                                                 seed=1)


def test_analysis_compares_models_and_reports_skips():
    result = analyse_pump(synthetic(np.random.default_rng(2)), dl_um=DL, chern_numbers=[1, -1], n_bootstrap=100)
    assert result.headline.model == "linear"
    assert {row["model"] for row in result.comparison} == {"linear", "linear_drift", "per_direction", "efficiency"}
    bics = [row["bic"] for row in result.comparison]
    assert bics == sorted(bics) and result.comparison[0]["delta_bic"] == 0.0
    assert "direction" in result.differential
    assert "no reference" not in str(result.skipped) and "differential_reference" in result.skipped
    assert result.consistency is not None and result.bootstrap["n_resamples"] == 100


def test_pull_statistics_of_a_normal_sample():
    stats = pull_statistics(np.random.default_rng(0).normal(size=20000))
    assert abs(stats["mean"]) < 3 * stats["mean_err"] and abs(stats["std"] - 1) < 3 * stats["std_err"]
    assert stats["coverage_2sigma"] == pytest.approx(0.954, abs=0.01) and stats["ks_pvalue"] > 0.001


def test_error_paths():
    one_direction = PumpData.from_arrays([0, 1, 2, 3], [1, 1, 1, 1], [0, 1, 2, 3], [0.1] * 4)
    with pytest.raises(ValueError, match="at least 3 used pumped shots"):
        fit_model(PumpData.from_arrays([0, 1], [1, 1], [0, 1], [0.1, 0.1]), "linear", dl_um=DL)
    with pytest.raises(ValueError, match="not constrained"):
        fit_model(PumpData.from_arrays([1, 1, 1], [1, 1, 1], [0, 1, 2], [0.1] * 3), "linear", dl_um=DL)
    with pytest.raises(ValueError, match="errors must be positive"):
        PumpData.from_arrays([0, 1, 2], [1, 1, 1], [0, 1, 2], [0.1, 0.0, 0.1])
    with pytest.raises(ValueError, match="needs shots of both pump directions"):
        fit_model(one_direction, "per_direction", dl_um=DL)
    with pytest.raises(ValueError, match="needs both pumped and reference shots"):
        reference_differences(one_direction)
    with pytest.raises(ValueError, match="unknown fit model 'cubic'"):
        analyse_pump(one_direction, dl_um=DL, chern_numbers=[1], model="cubic")
    with pytest.raises(ValueError, match="^model is differential_reference but"):
        analyse_pump(one_direction, dl_um=DL, chern_numbers=[1], model="differential_reference")
