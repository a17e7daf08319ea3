"""Non-adiabatic loss per cycle (issue 12, item 3): the band-averaged model against the exact k-resolved dynamics of
the Lohse lattice's Rice–Mele chain, its closed forms, its validity warning, and the displacement bookkeeping shared
by the efficiency fit model and the simulator's Landau–Zener estimate."""

import warnings

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from atompump.fit.models import efficiency_displacement
from atompump.simulate import dynamics
from atompump.simulate.dynamics import landau_zener_displacement
from atompump.theory import populations
from atompump.theory.nonadiabatic import (
    NonAdiabaticWarning,
    PhaseRamp,
    crossing_matrix,
    exact_band_loss,
    landau_zener_probability,
    nonadiabatic_loss,
    period_for_band_loss,
    period_in_hbar_units,
    pump_displacement,
    ramp_form_factor,
)
from atompump.theory.rice_mele import RiceMeleParams, bloch_hamiltonian, rice_mele_from_superlattice
from atompump.theory.superlattice import SuperlatticeParams

LOHSE = SuperlatticeParams(Vs_Er=10.0, Vl_Er=20.0, lambda_l_nm=1534.0)
N_K = 16


@pytest.fixture(scope="module")
def chain():
    return rice_mele_from_superlattice(LOHSE)


def period(ms: float) -> float:
    return period_in_hbar_units(ms * 1e-3, energy_unit_hz=LOHSE.recoil_s_hz)


# --- closed forms and one unit convention --------------------------------------------------------------------------


def test_one_landau_zener_formula_in_every_unit():
    g, a, t = 0.11, 4.5, period(226.0)
    p = landau_zener_probability(min_gap=g, gap_slope=a, period=t)
    assert p == pytest.approx(np.exp(-np.pi * g**2 / (2 * a * 2 * np.pi / t)))
    # the same crossing with energies in Hz and the period in s (theory.populations), and the simulator's name
    hz = LOHSE.recoil_s_hz
    assert populations.landau_zener_probability(g * hz, a * hz, 0.226) == pytest.approx(p, rel=1e-12)
    assert dynamics.landau_zener_probability is landau_zener_probability
    # vectorised, and the combination with back-transfer: p2 -> p2 (1 - P) + (1 - p2) P
    np.testing.assert_allclose(landau_zener_probability(min_gap=[g, g], gap_slope=a, period=t), [p, p])
    assert populations.combine_crossings([p, p]) == pytest.approx(2 * p * (1 - p))
    with pytest.raises(ValueError, match="gap_slope > 0"):
        landau_zener_probability(min_gap=g, gap_slope=0.0, period=t)


def test_crossing_matrix_is_unitary_with_the_landau_zener_probability():
    m = crossing_matrix(np.array([0.0, 0.3, 1.0]), np.array([5.0, 0.2, 1e-9]), np.array([1.0, -1.0, 1.0]))
    for u, p in zip(m, (0.0, 0.3, 1.0)):
        np.testing.assert_allclose(u.conj().T @ u, np.eye(2), atol=1e-12)
        assert abs(u[1, 0]) ** 2 == pytest.approx(p)


def test_ramp_form_factor_and_phase():
    assert ramp_form_factor(0.0) == pytest.approx(1.0)
    assert ramp_form_factor(np.pi) == pytest.approx(ramp_form_factor(np.pi * (1 + 1e-5)), abs=1e-4)  # continuous
    w = 40.0
    assert abs(ramp_form_factor(w)) ** 2 == pytest.approx(np.pi**4 * np.cos(w / 2) ** 2 / (np.pi**2 - w**2) ** 2)
    ramp = PhaseRamp(period=100.0, start_phase=0.3, ramp_time=20.0)
    t = np.array([0.0, 10.0, 20.0, 60.0])
    np.testing.assert_allclose(ramp.velocity(t), ramp.omega * np.array([0.0, 0.5, 1.0, 1.0]))
    assert ramp.phase(60.0) == pytest.approx(0.3 + ramp.omega * 50.0)  # the ramp costs tau / 2
    np.testing.assert_allclose(ramp.time_at(ramp.phase(t)), t, atol=1e-3)


def test_the_reference_evolution_against_an_independent_integrator(chain):
    t, k = period(50.0), np.pi * (1 - 1 / N_K)
    ks, loss = exact_band_loss(chain, period=t, start_phase=0.0, end_phase=np.pi / 4, n_k=N_K, dt=0.5)
    assert ks[N_K // 2 - 1] == pytest.approx(k)
    ramp = PhaseRamp(period=t)
    _, v = np.linalg.eigh(bloch_hamiltonian(k, 0.0, chain))
    sol = solve_ivp(lambda s, y: -1j * bloch_hamiltonian(k, ramp.phase(s), chain) @ y,
                    (0.0, float(ramp.time_at(np.pi / 4))), v[:, 0].astype(complex), rtol=1e-9, atol=1e-11)
    _, v = np.linalg.eigh(bloch_hamiltonian(k, np.pi / 4, chain))
    assert loss[N_K // 2 - 1] == pytest.approx(abs(v[:, 1].conj() @ sol.y[:, -1]) ** 2, rel=2e-3)


# --- acceptance: the model against the exact dynamics -----------------------------------------------------------


@pytest.mark.parametrize(("start_phase", "ramp_ms", "period_ms"), [
    (0.0, 0.0, 50.0), (0.0, 0.0, 400.0), (0.0, 0.0, 1000.0),
    (np.pi / 2, 0.0, 100.0), (np.pi / 2, 0.0, 400.0),
    (0.0, 5.0, 226.0), (0.0, 5.0, 1000.0),
])
def test_band_averaged_loss_within_10_percent_of_the_exact_dynamics(chain, start_phase, ramp_ms, period_ms):
    kwargs = {"period": period(period_ms), "start_phase": start_phase,
              "ramp_time": period(ramp_ms) if ramp_ms else 0.0, "n_k": N_K}
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonAdiabaticWarning)  # inside the stated range of validity
        estimate = nonadiabatic_loss(chain, **kwargs)
    _, exact = exact_band_loss(chain, **kwargs, dt=1.0)
    assert estimate.valid
    assert estimate.loss == pytest.approx(exact.mean(), rel=0.10)


def test_a_pump_without_sharp_crossings_loses_through_its_start_only():
    # J = 2 dJ = Delta: a smooth gap, no isolated avoided crossing; energies and times in the model's own units
    model = RiceMeleParams(J=1.0, dJ=0.5, Delta=1.0)
    for start in (0.0, 1.0):
        est = nonadiabatic_loss(model, period=200.0, start_phase=start, n_k=N_K)
        _, exact = exact_band_loss(model, period=200.0, start_phase=start, n_k=N_K, dt=0.05)
        assert est.valid and est.crossings == []
        assert est.loss == pytest.approx(est.start_first_order, rel=1e-6)
        assert est.loss == pytest.approx(exact.mean(), rel=0.03)


def test_what_the_loss_is_made_of(chain):
    # a filled band samples every k: per crossing about 1.1 % at 226 ms, half the minimum-gap (k = pi) value
    est = nonadiabatic_loss(chain, period=period(226.0), start_phase=np.pi / 2, n_k=64)
    assert [round(c["phi"] / np.pi, 6) for c in est.crossings] == [1.0, 2.0]
    for c in est.crossings:
        assert c["probability"] == pytest.approx(0.0112, abs=0.0005)
        assert c["probability_min_gap"] == pytest.approx(0.021, abs=0.001)
    # the two crossings interfere: probabilities alone (incoherent back-transfer) miss the exact loss by 50 %
    assert est.cycle_loss == pytest.approx(est.loss, rel=1e-4)  # the start at phi = pi/2 costs ~1e-10
    assert est.incoherent > 1.4 * est.loss
    # the sudden start at phi = 0 dominates the default 400 ms pump: about 1.2 %, ~1/T^2, first order the limit
    slow, default = (nonadiabatic_loss(chain, period=period(ms), start_phase=0.0, n_k=N_K) for ms in (1000.0, 400.0))
    assert default.start == pytest.approx(0.0118, abs=0.0005)
    assert default.start > 10 * default.cycle_loss
    assert slow.start * 1000.0**2 == pytest.approx(default.start * 400.0**2, rel=0.25)
    assert slow.start_first_order == pytest.approx(slow.start, rel=0.05)
    assert default.start_first_order == pytest.approx(0.8 * default.start, rel=0.05)  # 20 % low at a gap minimum
    # a 5 ms sin^2 ramp-on suppresses the start channel a thousandfold at 1 s
    smooth = nonadiabatic_loss(chain, period=period(1000.0), start_phase=0.0, ramp_time=period(5.0), n_k=N_K)
    assert smooth.start < 1e-3 * slow.start


def test_period_for_a_one_percent_loss(chain):
    # a sudden start at phi = 0 needs ~440 ms for 1 % (averaged over the Stueckelberg oscillations)
    t = period_for_band_loss(chain, 0.01, start_phase=0.0, n_k=8)
    assert t == pytest.approx(period(440.0), rel=0.05)
    est = nonadiabatic_loss(chain, period=t, start_phase=0.0, n_k=8)
    assert est.incoherent == pytest.approx(0.01, rel=1e-3)
    with pytest.raises(ValueError, match="between 0 and 0.5"):
        period_for_band_loss(chain, 0.7)


def test_warns_outside_the_range_of_validity(chain):
    with pytest.warns(NonAdiabaticWarning, match="hyperbola"):
        est = nonadiabatic_loss(chain, period=period(10.0), start_phase=0.0, n_k=8)
    assert not est.valid and "period too short" in est.notes[0]


# --- the displacement: one bookkeeping for the fit model and the simulator's estimate ----------------------------


def test_efficiency_model_agrees_with_the_landau_zener_displacement():
    beta = 0.979
    p = 1 - beta
    for n in (1, 2, 4):
        # 2n whole crossings, from cycle 1/4 to n + 1/4 (the start at phi = 0 is the centre of crossing 0)
        whole = efficiency_displacement(np.array([0.25, n + 0.25]), beta, step_width=1e-4)
        assert whole[1] - whole[0] == pytest.approx(n * landau_zener_displacement(p, n), rel=1e-9)
        assert pump_displacement(np.array([float(n)]), crossing_loss=p, first_crossing=0.25)[0] == pytest.approx(
            n * landau_zener_displacement(p, n), rel=1e-12)
    # the preparation half-step carries the start's loss only (was: the full per-crossing loss, 0.938 dl)
    assert efficiency_displacement(np.array([0.25]), beta, step_width=1e-4)[0] == pytest.approx(0.25)
    assert efficiency_displacement(np.array([1.0]), beta)[0] == pytest.approx(0.25 + 0.5 * beta + 0.25 * (1 - 2 * p))
    # a start loss s shifts the band populations once: the slope becomes (1 - 2 s) per cycle
    d = efficiency_displacement(np.arange(5.0), 1.0, start_loss=0.0118)
    np.testing.assert_allclose(np.diff(d), 1 - 2 * 0.0118, rtol=1e-9)
