"""Quantum metric, band populations, Landau–Zener estimate and mesh refinement against closed forms."""

import warnings

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from atompump.theory.berry import berry_curvature, torus_states
from atompump.theory.geometry import quantum_metric, wannier_spread
from atompump.theory.populations import (
    band_populations,
    displacement_moments,
    gap_crossings,
    kT_in_energy_unit,
    landau_zener_probability,
)
from atompump.theory.refine import refine_chern_numbers
from atompump.theory.rice_mele import CallableRiceMele, RiceMeleParams, bloch_hamiltonian

# --- quantum metric of a two-level model: g = (1/4) d(d^) . d(d^), sqrt(det g) = |Omega| / 2 ----------------


def _unit_d(k, phi, model):
    j1, j2, delta = model.couplings(phi)
    d = np.stack([-(j1 + j2 * np.cos(k)), -j2 * np.sin(k), delta], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def rm_mesh():
    model = RiceMeleParams(J=1.0, dJ=0.5, Delta=0.8)
    n = 64
    k, phi, _, vectors = torus_states(lambda k, p: bloch_hamiltonian(k, p, model), n_k=n, n_phi=n)
    return model, k, phi, vectors


def test_quantum_metric_matches_the_two_level_closed_form(rm_mesh):
    model, k, phi, vectors = rm_mesh
    dk, dphi = k[1] - k[0], phi[1] - phi[0]
    g_kk, g_pp, g_kp = quantum_metric(vectors[..., 0], dk=dk, dphi=dphi)
    kc, pc = np.meshgrid(k[:-1] + dk / 2, phi[:-1] + dphi / 2, indexing="ij")  # plaquette centres
    h = 1e-6
    dk_hat = (_unit_d(kc + h, pc, model) - _unit_d(kc - h, pc, model)) / (2 * h)
    dp_hat = (_unit_d(kc, pc + h, model) - _unit_d(kc, pc - h, model)) / (2 * h)
    scale = np.abs(0.25 * np.sum(dk_hat**2, -1)).max()
    np.testing.assert_allclose(g_kk, 0.25 * np.sum(dk_hat**2, -1), atol=5e-3 * scale)
    np.testing.assert_allclose(g_pp, 0.25 * np.sum(dp_hat**2, -1), atol=5e-3 * scale)
    np.testing.assert_allclose(g_kp, 0.25 * np.sum(dk_hat * dp_hat, -1), atol=5e-3 * scale)
    omega = berry_curvature(vectors[..., 0]) / (dk * dphi)
    np.testing.assert_allclose(np.sqrt(np.clip(g_kk * g_pp - g_kp**2, 0, None)), np.abs(omega) / 2,
                               atol=5e-3 * np.abs(omega).max())


def test_wannier_spread_of_the_atomic_limit_closed_form():
    # constant Delta = 1, J1 = J2 = j << 1, orbitals at the cell origin: the lower band is B dressed by
    # amplitudes j / 2 on A in this cell and the next, so the position variance is (j / 2)^2 to leading order
    def spread_for(j):
        model = CallableRiceMele(J1=lambda p: j + 0 * p, J2=lambda p: j + 0 * p, Delta=lambda p: 1.0 + 0 * p)
        _, _, _, v = torus_states(lambda k, p: bloch_hamiltonian(k, p, model), n_k=64, n_phi=4)
        return wannier_spread(v[..., 0], lattice_constant=1.0)[0]

    assert spread_for(1e-8) < 1e-12  # rounding of 1 - |<u|u'>|^2
    assert spread_for(1e-2) == pytest.approx((1e-2 / 2) ** 2, rel=3e-3)  # O(dk^2) discretisation
    assert spread_for(0.3) > spread_for(0.1) > spread_for(0.01)


# --- band populations ------------------------------------------------------------------------------------------


def test_boltzmann_populations_of_two_flat_bands():
    energies = np.array([[0.0] * 10, [1.5] * 10])
    p, mu = band_populations(energies, kT=0.7, statistics="boltzmann", top_band_tolerance=1.0)
    assert mu is None
    assert p[1] / p[0] == pytest.approx(np.exp(-1.5 / 0.7), rel=1e-12)


@pytest.mark.parametrize("filling", [0.4, 1.0, 1.6])
def test_fermi_populations_closed_form(filling):
    # two flat bands 0 and D: 1/(x + 1) + 1/(a x + 1) = filling with x = exp(-mu/kT), a = exp(D/kT)
    kT, gap = 0.5, 1.0
    a = np.exp(gap / kT)
    # filling (a x + 1)(x + 1) = (a x + 1) + (x + 1)  ->  filling a x^2 + (filling (a + 1) - a - 1) x + filling - 2 = 0
    x = max(np.roots([filling * a, (filling - 1) * (a + 1), filling - 2]).real)
    p, mu = band_populations(np.array([[0.0] * 8, [gap] * 8]), kT=kT, statistics="fermi", filling=filling,
                             top_band_tolerance=1.0)
    assert mu == pytest.approx(-kT * np.log(x), rel=1e-9)
    assert p[0] * filling == pytest.approx(1 / (x + 1), rel=1e-9)


@pytest.mark.parametrize("filling", [0.5, 2.0])
def test_bose_populations_closed_form(filling):
    # 1/(x - 1) + 1/(a x - 1) = filling, x = exp(-mu/kT) > 1:  filling a x^2 - (filling + 1)(a + 1) x + filling + 2 = 0
    kT, gap = 0.5, 1.0
    a = np.exp(gap / kT)
    x = max(np.roots([filling * a, -(filling + 1) * (a + 1), filling + 2]).real)
    p, mu = band_populations(np.array([[0.0] * 8, [gap] * 8]), kT=kT, statistics="bose", filling=filling,
                             top_band_tolerance=1.0)
    n0 = 1 / (x - 1)
    assert n0 + 1 / (a * x - 1) == pytest.approx(filling, rel=1e-12)
    assert mu == pytest.approx(-kT * np.log(x), rel=1e-9)
    assert p[0] * filling == pytest.approx(n0, rel=1e-9)


def test_zero_temperature_and_errors():
    energies = np.array([[0.0, 0.1, 0.2], [1.0, 1.1, 1.2]])
    for statistics in ("boltzmann", "bose", "fermi"):
        p, _ = band_populations(energies, kT=0.0, statistics=statistics, filling=1.0)
        np.testing.assert_allclose(p, [1.0, 0.0])
    p, mu = band_populations(energies, kT=0.0, statistics="fermi", filling=1.5, top_band_tolerance=1.0)
    np.testing.assert_allclose(p, [2 / 3, 1 / 3])
    with pytest.raises(ValueError, match=r"compute more bands \(n_bands\)$"):  # the stage: theory.n_bands
        band_populations(energies, kT=5.0)
    with pytest.raises(ValueError, match="statistics must be one of"):
        band_populations(energies, kT=0.1, statistics="classical")
    with pytest.raises(ValueError, match="needs more than the 2 computed bands"):
        band_populations(energies, kT=0.1, statistics="fermi", filling=2.0)


def test_temperature_conversion_and_displacement_moments():
    # k_B * 1 uK / h = 20.8366 kHz
    assert kT_in_energy_unit(1000.0, energy_unit_hz=1.0) == pytest.approx(20836.6, rel=1e-5)
    mean, variance = displacement_moments([1, -1, 1], [0.7, 0.2, 0.1])
    assert mean == pytest.approx(0.6) and variance == pytest.approx(1 - 0.36)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        kT_in_energy_unit(-1.0, energy_unit_hz=1.0)


# --- Landau–Zener -------------------------------------------------------------------------------------------------


def test_gap_crossings_recover_a_hyperbolic_avoided_crossing():
    phi = 2 * np.pi * np.arange(400) / 400
    offsets = (phi - 1.0 + np.pi) % (2 * np.pi) - np.pi
    gap = np.sqrt(0.2**2 + 3.0**2 * offsets**2)
    (crossing,) = gap_crossings(phi, gap)
    assert crossing.phi0 == pytest.approx(1.0, abs=np.pi / 400)
    assert crossing.gap == pytest.approx(0.2, rel=1e-3)
    assert crossing.slope == pytest.approx(3.0, rel=1e-3)
    assert gap_crossings(phi, np.full(phi.size, 0.3)) == []


def test_landau_zener_formula_against_a_numerical_two_level_sweep():
    # H = (h/2) [[a phidot t, g], [g, -a phidot t]] in Hz (energies as frequencies); start in the lower level
    g_hz, a_hz, period = 400.0, 17000.0, 0.02
    rate = 2 * np.pi / period
    alpha = a_hz * rate  # Hz/s

    def rhs(t, psi):
        h = np.pi * np.array([[alpha * t, g_hz], [g_hz, -alpha * t]])  # 2 pi (E/h) / 2
        return -1j * (h @ psi)

    t_max = 40 * g_hz / alpha
    _, v = np.linalg.eigh(np.array([[-alpha * t_max, g_hz], [g_hz, alpha * t_max]]))
    sol = solve_ivp(rhs, (-t_max, t_max), v[:, 0].astype(complex), rtol=1e-9, atol=1e-11)
    _, v_end = np.linalg.eigh(np.array([[alpha * t_max, g_hz], [g_hz, -alpha * t_max]]))
    excited = abs(v_end[:, 1].conj() @ sol.y[:, -1]) ** 2
    assert landau_zener_probability(g_hz, a_hz, period) == pytest.approx(excited, abs=0.01)


def test_crossings_combine_with_back_transfer():
    # p2 -> p2 (1 - P) + (1 - p2) P twice: 2 P (1 - P), not the sum 2 P
    from atompump.theory.populations import combine_crossings

    assert combine_crossings([0.1, 0.1]) == pytest.approx(2 * 0.1 * 0.9)
    assert combine_crossings([0.5, 0.5]) == pytest.approx(0.5)


# --- refinement --------------------------------------------------------------------------------------------------


def test_refinement_warns_when_the_chern_numbers_cannot_be_trusted():
    calls = []

    def flaky(nk, nphi):
        calls.append(nk)
        return np.array([0.5]), None, 0.1

    with pytest.warns(RuntimeWarning, match=r"not trusted: not integer \(\[0.5\]\) on a 32x64 mesh after 2"):
        refine_chern_numbers(flaky, n_k=8, n_phi=16, max_refinements=2)
    assert calls == [8, 16, 32]

    def unresolved(nk, nphi):
        return np.array([1.0]), None, 2.5

    with pytest.warns(RuntimeWarning, match="a plaquette carries a Berry flux of 2.50 rad"):
        refine_chern_numbers(unresolved, n_k=8, n_phi=16, max_refinements=1)

    def good(nk, nphi):
        return np.array([1.0 + 1e-9, -1.0]), nk, 0.2

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rounded, raw, extra, nk, nphi = refine_chern_numbers(good, n_k=8, n_phi=16)
    assert rounded.tolist() == [1, -1] and (extra, nk, nphi) == (16, 16, 32)
