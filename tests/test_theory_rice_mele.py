"""Rice–Mele model: closed forms, winding number, the continuum mapping and the PythTB cross-check."""

import warnings

import numpy as np
import pytest

from atompump.errors import GapClosedError
from atompump.theory import SuperlatticeParams, bloch_states, superlattice_topology
from atompump.theory.berry import chern_number, torus_states
from atompump.theory.rice_mele import (
    CallableRiceMele,
    RiceMeleCouplings,
    RiceMeleParams,
    SampledRiceMele,
    band_energies,
    bloch_hamiltonian,
    direct_gap,
    hybrid_wannier_centres,
    real_space_hamiltonian,
    rice_mele_from_superlattice,
    rice_mele_topology,
    site_positions,
    winding_chern_number,
)


def test_couplings_parameterisation_and_protocol():
    model = RiceMeleParams(J=1.0, dJ=0.4, Delta=0.7)
    phi = np.array([0.0, np.pi / 2, np.pi])
    j1, j2, delta = model.couplings(phi)
    np.testing.assert_allclose(j1, [1.4, 1.0, 0.6])
    np.testing.assert_allclose(j2, [0.6, 1.0, 1.4])
    np.testing.assert_allclose(delta, [0.0, 0.7, 0.0], atol=1e-15)
    callable_model = CallableRiceMele(J1=lambda p: 1 + 0.4 * np.cos(p), J2=lambda p: 1 - 0.4 * np.cos(p),
                                      Delta=lambda p: 0.7 * np.sin(p))
    assert isinstance(model, RiceMeleCouplings) and isinstance(callable_model, RiceMeleCouplings)
    np.testing.assert_allclose(np.array(callable_model.couplings(phi)), np.array(model.couplings(phi)))
    with pytest.raises(ValueError, match="Rice-Mele parameter dJ must be finite"):
        RiceMeleParams(dJ=np.nan)


def test_bloch_bands_match_closed_form():
    model = RiceMeleParams(J=1.0, dJ=0.3, Delta=0.5)
    rng = np.random.default_rng(7)
    k, phi = rng.uniform(0, 2 * np.pi, (2, 50))
    numeric = np.linalg.eigvalsh(bloch_hamiltonian(k, phi, model))
    np.testing.assert_allclose(numeric, band_energies(k, phi, model), atol=1e-12)


@pytest.mark.parametrize("J, dJ, Delta", [(1.0, 0.5, 1.0), (1.0, 0.25, 3.0), (1.0, 0.5, 0.2)])
def test_minimum_gap_closed_form(J, dJ, Delta):
    model = RiceMeleParams(J=J, dJ=dJ, Delta=Delta)
    topo = rice_mele_topology(model)
    assert topo.min_gaps[0] == pytest.approx(2 * min(abs(Delta), 2 * abs(dJ)), rel=1e-8)
    assert model.min_gap() == pytest.approx(topo.min_gaps[0], rel=1e-8)


@pytest.mark.parametrize("J, dJ, Delta, expected", [
    (1.0, 0.5, 1.0, 1), (1.0, -0.5, 1.0, -1), (1.0, 0.5, -1.0, -1), (-1.0, 0.5, 1.0, -1), (0.2, 1.0, 1.0, 1),
])
def test_chern_number_is_the_winding_around_the_degeneracy_point(J, dJ, Delta, expected):
    model = RiceMeleParams(J=J, dJ=dJ, Delta=Delta)
    topo = rice_mele_topology(model)
    assert topo.band_chern_numbers().tolist() == [expected, -expected]
    assert winding_chern_number(model) == expected


def test_winding_equals_fhs_for_random_loops():
    # seeded random Fourier loops J1, J2, Delta(phi): the crossing-count winding equals the FHS Chern number
    rng = np.random.default_rng(2016)
    checked = 0
    for _ in range(12):
        a = rng.normal(size=(3, 3))

        def f(row, a=a):
            return lambda p: a[row, 0] + a[row, 1] * np.cos(p) + a[row, 2] * np.sin(p)

        model = CallableRiceMele(J1=f(0), J2=f(1), Delta=f(2))
        if direct_gap(np.linspace(0, 2 * np.pi, 4001), model).min() < 0.05:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            topo = rice_mele_topology(model)
        assert topo.chern_numbers[0] == winding_chern_number(model)
        checked += 1
    assert checked >= 6


def test_gap_closing_is_reported_with_phi():
    with pytest.raises(GapClosedError, match=r"phi = 1.5708 rad \(0.500 pi\)"):
        rice_mele_topology(RiceMeleParams(J=1.0, dJ=0.5, Delta=0.0))
    with pytest.raises(GapClosedError, match="Rice-Mele gap closes at phi"):
        winding_chern_number(RiceMeleParams(J=1.0, dJ=0.0, Delta=1.0))


def test_wannier_centre_starts_on_the_strong_bond_and_moves_towards_plus_x():
    # physics.md sign: at phi = 0 the lower band is the A_j-B_j dimer (centre d/4), at phi = pi/2 it sits on B
    # (x = d/2, Delta > 0 puts A higher), at phi = pi on the B_j-A_j+1 dimer (3d/4): C = +1
    phi, centres = hybrid_wannier_centres(RiceMeleParams(J=1.0, dJ=0.5, Delta=5.0), n_k=64, n_phi=96)
    lower = centres[0]
    assert lower[0] == pytest.approx(0.25, abs=1e-9)
    assert lower[24] == pytest.approx(0.5, abs=0.02)  # phi = pi/2, large Delta
    assert lower[48] == pytest.approx(0.75, abs=1e-9)
    assert lower[-1] - lower[0] == pytest.approx(1.0, abs=1e-9)
    assert centres[1, -1] - centres[1, 0] == pytest.approx(-1.0, abs=1e-9)


def test_zak_phase_of_the_ssh_limit():
    # Delta = 0: the lower band's Berry phase (Wannier centre with positions) is the bond centre d/4 or 3d/4
    for j1, j2, expected in [(1.0, 0.3, 0.25), (0.3, 1.0, 0.75)]:
        model = CallableRiceMele(J1=lambda p, j=j1: j + 0 * p, J2=lambda p, j=j2: j + 0 * p,
                                 Delta=lambda p: 0.3 * np.sin(p) * 0)
        _, centres = hybrid_wannier_centres(model, n_k=48, n_phi=4)
        assert np.mod(centres[0, 0], 1.0) == pytest.approx(expected, abs=1e-9)


def test_real_space_ring_with_twist_reproduces_bloch_bands():
    model = RiceMeleParams(J=1.0, dJ=0.4, Delta=0.6)
    n_cells, theta, phi = 7, 0.9, 1.1
    h = real_space_hamiltonian(model, phi, n_cells, boundary="periodic", twist=theta)
    k = (2 * np.pi * np.arange(n_cells) + theta) / n_cells
    expected = np.sort(band_energies(k, phi, model).ravel())
    np.testing.assert_allclose(np.linalg.eigvalsh(h), expected, atol=1e-12)
    open_chain = real_space_hamiltonian(model, phi, n_cells)
    assert open_chain[0, -1] == 0 and open_chain[1, 0] == -model.couplings(phi)[0]
    np.testing.assert_allclose(site_positions(2), [0, 0.5, 1, 1.5])
    with pytest.raises(ValueError, match="onsite must have shape"):
        real_space_hamiltonian(model, phi, n_cells, onsite=np.zeros(3))


def test_sampled_couplings_interpolate_periodically():
    model = RiceMeleParams(J=1.0, dJ=0.5, Delta=1.0)
    phi = 2 * np.pi * np.arange(64) / 64
    sampled = SampledRiceMele(phi, *model.couplings(phi))
    probe = np.array([0.05, 3.0, 6.27, 6.3])
    np.testing.assert_allclose(np.array(sampled.couplings(probe)), np.array(model.couplings(probe)), atol=2e-5)
    with pytest.raises(ValueError, match="phi = 2 pi j / n"):
        SampledRiceMele(np.linspace(0, 1, 8), *model.couplings(np.linspace(0, 1, 8)))


@pytest.fixture(scope="module")
def lohse_rm():
    return rice_mele_from_superlattice(SuperlatticeParams(Vs_Er=10, Vl_Er=20), n_phi=48)


def test_lohse_rice_mele_couplings_match_physics_md(lohse_rm):
    # physics.md (third-party, order of magnitude): J1(0) ~ 0.061, J2(0) ~ 0.005 Er,s, Delta_max ~ 4.5 Er,s as the
    # on-site difference (2 Delta in the +-Delta convention here)
    assert lohse_rm.J1[0] == pytest.approx(0.061, rel=0.05)
    assert lohse_rm.J2[0] == pytest.approx(0.005, rel=0.1)
    assert 2 * np.abs(lohse_rm.Delta).max() == pytest.approx(4.5, rel=0.05)
    assert lohse_rm.residual.max() < 0.05 * lohse_rm.J1.max()
    # symmetry of the cycle: J1(phi + pi) = J2(phi), Delta(pi/2) > 0 (A, at -dl/4, is the high site)
    np.testing.assert_allclose(lohse_rm.J1[24:], lohse_rm.J2[:24], rtol=1e-6)
    assert lohse_rm.Delta[12] > 2.0


def test_lohse_rice_mele_reproduces_continuum_gap_and_chern_number(lohse_rm):
    continuum = superlattice_topology(SuperlatticeParams(Vs_Er=10, Vl_Er=20), n_bands=1)
    topo = rice_mele_topology(lohse_rm)
    assert topo.min_gaps[0] == pytest.approx(continuum.min_gap_above.values[0], rel=0.01)
    gap_rm = direct_gap(lohse_rm.phi, lohse_rm)
    _, _, energies, _ = bloch_states(SuperlatticeParams(), n_k=32, n_phi=48, n_bands=2)
    gap_continuum = (energies[:-1, :-1, 1] - energies[:-1, :-1, 0]).min(axis=0)
    np.testing.assert_allclose(gap_rm, gap_continuum, rtol=0.02)
    assert topo.chern_numbers[0] == continuum.chern_number.values[0] == winding_chern_number(lohse_rm) == 1


# --- PythTB cross-check (independent code), with the sign relation made explicit -------------------------------

def _pythtb_wf(model, n_k, n_phi):
    pythtb = pytest.importorskip("pythtb")
    wf = None
    for j in range(n_phi + 1):
        j1, j2, delta = (float(v) for v in model.couplings(2 * np.pi * j / n_phi))
        tb = pythtb.tb_model(1, 1, [[1.0]], [[0.0], [0.5]])  # A at 0, B at d/2
        tb.set_onsite([delta, -delta])
        tb.set_hop(-j1, 0, 1, [0])  # <A_0|H|B_0> = -J1
        tb.set_hop(-j2, 1, 0, [1])  # <B_0|H|A_1> = -J2
        if wf is None:
            wf = pythtb.wf_array(tb, [n_k + 1, n_phi + 1])
        _, vectors = tb.solve_all(np.linspace(0.0, 1.0, n_k + 1), eig_vectors=True)
        for i in range(n_k + 1):
            wf[i, j] = vectors[:, i, :]
    wf.impose_pbc(0, 0)
    wf.impose_loop(1)
    return wf


@pytest.mark.parametrize("J, dJ, Delta", [(1.0, 0.5, 1.0), (1.0, -0.5, 1.0), (1.0, 0.3, -2.0)])
def test_pythtb_cross_check_with_physical_sign(J, dJ, Delta):
    model = RiceMeleParams(J=J, dJ=dJ, Delta=Delta)
    n_k, n_phi = 24, 48
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PythTB's own deprecation warnings
        wf = _pythtb_wf(model, n_k, n_phi)
        flux = wf.berry_flux([0]) / (2 * np.pi)
        phase = wf.berry_phase([0], 0, contin=True) / (2 * np.pi)
    _, _, _, vectors = torus_states(lambda k, p: bloch_hamiltonian(k, p, model), n_k=n_k, n_phi=n_phi)
    c_atompump = chern_number(vectors[..., 0])
    # PythTB's Berry phase along k / 2 pi is the lower band's Wannier centre (units of d, orbital positions
    # included): its advance over the cycle is the physical motion, which physics.md calls C.
    assert phase[-1] - phase[0] == pytest.approx(c_atompump, abs=1e-9)
    _, centres = hybrid_wannier_centres(model, n_k=n_k, n_phi=n_phi)
    offset = (phase - phase[0] + centres[0, 0]) - centres[0]  # same trajectory, modulo whole cells
    np.testing.assert_allclose((offset + 0.5) % 1.0 - 0.5, 0.0, atol=1e-9)
    # PythTB's berry_flux over the (k, phi) mesh has the opposite orientation: -C
    assert flux == pytest.approx(-c_atompump, abs=1e-9)
    assert abs(round(c_atompump)) == 1
