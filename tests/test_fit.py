"""Linear pump fit: injection-recovery with seeded noise, calibrated errors, error paths."""

import numpy as np
import pytest

from atompump.fit import fit_linear_pump


def synthetic(rng, *, nu=0.97, dl=0.767, x0=12.0, repeats=10, err=0.05, jitter=0.0):
    cycle = np.tile(np.repeat([0.0, 1.0, 2.0, 3.0], 2), repeats)
    direction = np.tile([1, -1], 4 * repeats)
    x = x0 + direction * nu * dl * cycle + rng.normal(0, err, cycle.size) + rng.normal(0, jitter, cycle.size)
    return cycle, direction, x, np.full(cycle.size, err)


def test_recovers_injected_nu():
    rng = np.random.default_rng(11)
    fit = fit_linear_pump(*synthetic(rng, err=0.01), dl_um=0.767)
    assert fit.nu == pytest.approx(0.97, abs=4 * fit.nu_err)
    assert fit.nu_err == pytest.approx(0.01 / 0.767 / np.sqrt(80 * 3.5), rel=0.05)  # sigma / (dl sqrt(sum c^2))
    assert fit.displacement_per_cycle_um == pytest.approx(fit.nu * 0.767)
    assert not fit.errors_scaled


def test_pulls_are_unit_normal_over_many_runs():
    rng = np.random.default_rng(5)
    pulls = []
    for _ in range(300):
        fit = fit_linear_pump(*synthetic(rng, repeats=3), dl_um=0.767)
        pulls.append((fit.nu - 0.97) / fit.nu_err)
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.2
    assert 0.85 < pulls.std() < 1.15


def test_extra_scatter_scales_errors_and_keeps_pulls_calibrated():
    rng = np.random.default_rng(6)
    pulls, scaled = [], []
    for _ in range(200):
        fit = fit_linear_pump(*synthetic(rng, repeats=5, err=0.02, jitter=0.2), dl_um=0.767)
        pulls.append((fit.nu - 0.97) / fit.nu_err)
        scaled.append(fit.errors_scaled)
    assert all(scaled)
    assert 0.85 < np.std(pulls) < 1.15


def test_error_paths():
    with pytest.raises(ValueError, match="at least 3 used shots"):
        fit_linear_pump([0, 1], [1, 1], [0, 1], [0.1, 0.1], dl_um=0.767)
    with pytest.raises(ValueError, match="not constrained"):
        fit_linear_pump([1, 1, 1], [1, 1, 1], [0, 1, 2], [0.1, 0.1, 0.1], dl_um=0.767)
    with pytest.raises(ValueError, match="errors positive"):
        fit_linear_pump([0, 1, 2], [1, 1, 1], [0, 1, 2], [0.1, 0.0, 0.1], dl_um=0.767)
