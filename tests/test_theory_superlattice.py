"""Superlattice bands and Chern numbers against closed forms and physics.md."""

import numpy as np
import pytest

from atompump.errors import GapClosedError, ParameterError
from atompump.theory import SuperlatticeParams, bloch_states, hamiltonian, superlattice_topology
from atompump.theory.topology import expected_displacement


def test_lohse_parameters_give_plus_minus_plus():
    ds = superlattice_topology(SuperlatticeParams(Vs_Er=10, Vl_Er=20, lambda_l_nm=1534))
    assert ds.chern_number.values.tolist() == [1, -1, 1]
    np.testing.assert_allclose(ds.chern_number_raw.values, [1, -1, 1], atol=1e-6)
    # physics.md: minimum gap over the cycle ~ 0.11 Er,s (third-party value, order-of-magnitude check)
    assert 0.09 < ds.min_gap_above.values[0] < 0.13


def test_recoil_energy_of_rb87_short_lattice():
    # physics.md: Er,s / h ~ 3.90 kHz for Rb-87 and lambda_s = 767 nm
    assert SuperlatticeParams().recoil_s_hz == pytest.approx(3902, rel=2e-3)


@pytest.mark.parametrize("species", ["K40", "Li6"])
def test_other_atoms_same_bands_in_recoil_units_and_recoil_scales_inversely_with_mass(species):
    """With depths in each lattice's own recoil energy the Hamiltonian in Er,s is mass-independent (Chern numbers
    and gaps in Er,s identical); Er,s = h^2 / (8 m ds^2) scales as 1/m and as 1/lambda^2."""
    from atompump.constants import SPECIES

    mass = SPECIES[species].mass_amu
    rb = SuperlatticeParams(Vs_Er=10, Vl_Er=20, lambda_l_nm=1064)
    other = SuperlatticeParams(Vs_Er=10, Vl_Er=20, lambda_l_nm=1064, mass_amu=mass)
    assert other.recoil_s_hz == pytest.approx(rb.recoil_s_hz * SPECIES["Rb87"].mass_amu / mass, rel=1e-12)
    assert rb.recoil_s_hz == pytest.approx(SuperlatticeParams().recoil_s_hz * (1534 / 1064) ** 2, rel=1e-12)
    a, b = superlattice_topology(rb), superlattice_topology(other)
    assert b.chern_number.values.tolist() == a.chern_number.values.tolist() == [1, -1, 1]
    np.testing.assert_allclose(b.min_gap_above.values, a.min_gap_above.values, rtol=1e-10)


def test_sliding_lattice_limit_every_band_plus_one():
    ds = superlattice_topology(SuperlatticeParams(Vs_Er=0.0, Vl_Er=20))
    assert ds.chern_number.values.tolist() == [1, 1, 1]


@pytest.mark.parametrize("Vs, expected_c2", [(5.0, +1), (7.5, -1)])
def test_second_band_flips_across_vl_squared_over_four(Vs, expected_c2):
    # Vl = 20 Er,l = 5 Er,s: the flip is at Vs = 5^2 / 4 = 6.25 Er,s
    ds = superlattice_topology(SuperlatticeParams(Vs_Er=Vs, Vl_Er=20), n_bands=2)
    assert ds.chern_number.values[0] == 1
    assert ds.chern_number.values[1] == expected_c2


def test_wannier_centre_drift_equals_chern_number_times_dl():
    params = SuperlatticeParams()
    ds = superlattice_topology(params)
    drift = ds.wannier_centre.isel(phi_w=-1) - ds.wannier_centre.isel(phi_w=0)
    np.testing.assert_allclose(drift.values, ds.chern_number.values * params.dl_um, atol=1e-6)


def test_sign_is_physical_centre_follows_sliding_lattice():
    # With Vs = 0 the potential is V(x - phi dl / 2 pi): the centre must move towards +x as phi increases.
    params = SuperlatticeParams(Vs_Er=0.0, Vl_Er=40)
    ds = superlattice_topology(params, n_bands=1)
    x = ds.wannier_centre.sel(band=1).values
    np.testing.assert_allclose(np.diff(x), params.dl_um / (x.size - 1), rtol=1e-3)


def test_free_particle_bands_closed_form():
    # Vs = Vl = 0: E = (kappa + m)^2 Er,s, sorted
    kappa = np.array([0.1, 0.3, 0.45])
    h = hamiltonian(kappa, np.zeros(3), SuperlatticeParams(Vs_Er=0, Vl_Er=0), n_max=6)
    energies = np.linalg.eigvalsh(h)
    for i, k in enumerate(kappa):
        expected = np.sort((k + np.arange(-6, 7)) ** 2)
        np.testing.assert_allclose(energies[i], expected, atol=1e-12)


def test_deep_short_lattice_band_width_matches_harmonic_spacing():
    # Deep short lattice (Vl = 0): band gap 1->2 at the harmonic value 2 sqrt(Vs) Er,s minus the anharmonic
    # correction Er,s (Mathieu asymptotics): E2 - E1 ~ 2 sqrt(Vs) - 1 for Vs >> 1.
    vs = 200.0
    _, _, energies, _ = bloch_states(SuperlatticeParams(Vs_Er=vs, Vl_Er=0.0), n_k=4, n_phi=4, n_bands=4, n_max=20)
    # dl-periodic bands: each short-lattice band appears twice (folded); bands 1-2 and 3-4 are the s and p bands
    gap = energies[..., 2].min() - energies[..., 1].max()
    assert gap == pytest.approx(2 * np.sqrt(vs) - 1.0, rel=0.02)


def test_gap_closing_is_an_error_naming_bands_and_phi():
    with pytest.raises(GapClosedError, match=r"bands 1 and 2 closes .* at phi"):
        superlattice_topology(SuperlatticeParams(Vs_Er=0.0, Vl_Er=0.0), n_bands=1)


def test_expected_displacement_from_populations():
    assert expected_displacement(np.array([1, -1, 1]), [0.9, 0.1]) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="sum to 1"):
        expected_displacement(np.array([1, -1]), [0.5, 0.2])
    with pytest.raises(ParameterError, match="Chern numbers computed; raise n_bands$"):
        expected_displacement(np.array([1]), [0.5, 0.5])


def test_parameters_checked_at_the_door():
    with pytest.raises(ValueError, match="Vs_Er must be a finite depth"):
        SuperlatticeParams(Vs_Er=-1)
    with pytest.raises(ValueError, match="lambda_l_nm must be positive"):
        SuperlatticeParams(lambda_l_nm=0)


# --- basis convergence, gap closing at Vs = Vl^2/4, Wannier functions and quantum geometry ---------------------

from atompump.theory import converged_n_max  # noqa: E402
from atompump.theory.superlattice import bloch_states_at  # noqa: E402
from atompump.theory.wannier import hopping_matrices, superlattice_wannier_gauge, wannier_functions  # noqa: E402


@pytest.fixture(scope="module")
def lohse():
    return superlattice_topology(SuperlatticeParams(Vs_Er=10, Vl_Er=20, lambda_l_nm=1534))


def test_basis_converged_and_deep_lattices_get_more_plane_waves():
    n, change = converged_n_max(SuperlatticeParams(), n_bands=4, start=4, tolerance=1e-7)
    assert change < 1e-7 and 6 <= n <= 12
    # converged means: a much larger basis changes the energies by less than the tolerance
    _, e_n, _ = bloch_states_at(SuperlatticeParams(), 0.3, n_k=6, n_bands=4, n_max=n)
    _, e_big, _ = bloch_states_at(SuperlatticeParams(), 0.3, n_k=6, n_bands=4, n_max=40)
    assert np.abs(e_n - e_big).max() < 1e-6
    deep, _ = converged_n_max(SuperlatticeParams(Vs_Er=200, Vl_Er=0), n_bands=4, start=4)
    assert deep > n
    with pytest.raises(ParameterError, match="not converged at n_max = 8 .* too deep for n_max <= 8$"):
        converged_n_max(SuperlatticeParams(Vs_Er=200, Vl_Er=0), n_bands=4, start=4, largest=8)


def test_topology_records_the_converged_basis_even_from_a_small_start():
    ds = superlattice_topology(SuperlatticeParams(), n_bands=1, n_max=4)
    assert ds.attrs["n_max"] >= 8 and ds.attrs["basis_change_Er"] < 1e-7
    assert ds.chern_number.values.tolist() == [1]


def test_gap_between_bands_2_and_3_closes_exactly_at_vs_vl_squared_over_4():
    # Vl = 20 Er,l = 5 Er,s: Vs = 25/4 Er,s; a touching point (k = 0, phi = pi/2, or its mirror image phi = 3 pi/2:
    # V(-x; phi) = V(x; 2 pi - phi), so both close, equally to rounding) is found and named
    with pytest.raises(GapClosedError, match=r"bands 2 and 3 closes \(min .*\) at phi = (1.5708 rad \(0.500 pi\)|"
                                             r"4.7124 rad \(1.500 pi\))"):
        superlattice_topology(SuperlatticeParams(Vs_Er=6.25, Vl_Er=20))
    near = superlattice_topology(SuperlatticeParams(Vs_Er=6.4, Vl_Er=20), n_bands=2)
    assert near.chern_number.values.tolist() == [1, -1]
    assert near.min_gap_above.values[1] < 0.1


def test_min_gap_is_located_between_mesh_points():
    # a mesh that misses phi = 0 and pi (odd n_phi) still finds the Lohse minimum gap at phi = 0 or pi, k = pi/dl
    ds = superlattice_topology(SuperlatticeParams(), n_bands=1, n_k=9, n_phi=13, max_refinements=4)
    fine = superlattice_topology(SuperlatticeParams(), n_bands=1)
    assert ds.min_gap_above.values[0] == pytest.approx(fine.min_gap_above.values[0], rel=1e-6)
    assert np.sin(ds.min_gap_phi.values[0]) == pytest.approx(0.0, abs=1e-4)


def test_wannier_spread_from_metric_equals_real_space_variance(lohse):
    wf = wannier_functions(SuperlatticeParams(), 0.0, bands=(0,), n_k=48)
    spread_metric = float(lohse.wannier_spread.sel(band=1).isel(phi_w=0))
    assert wf.spread.values[0] ** 2 == pytest.approx(spread_metric, rel=2e-3)
    # the Wilson-loop centre is the real-space centre of mass of the Wannier function
    x, w = wf.x.values, wf.wannier_function.values[0]
    dx = x[1] - x[0]
    assert np.sum(w**2) * dx == pytest.approx(1.0, abs=1e-5)
    assert np.sum(x * w**2) * dx == pytest.approx(float(wf.centre.values[0]), abs=1e-5)


def test_site_wannier_functions_are_the_double_well_orbitals():
    wf = wannier_functions(SuperlatticeParams(), 0.0, bands=(0, 1))
    dl = SuperlatticeParams().dl_um
    centres = wf.centre.values / dl
    # symmetric about the low barrier at x = 0, pulled inwards from the short-lattice minima at -+ dl/4
    assert centres[0] == pytest.approx(-centres[1], abs=1e-9)
    assert 0.2 < centres[1] < 0.25
    gauge = superlattice_wannier_gauge(SuperlatticeParams(), np.pi / 2)
    h = hopping_matrices(gauge, r_max=2)
    assert np.abs(h.imag).max() < 1e-6  # real couplings in the real Wannier gauge
    # at phi = pi/2 the two bonds are equal by symmetry (x -> -x with phi -> pi - phi)
    assert -h[2, 0, 1].real == pytest.approx(-h[3, 1, 0].real, rel=1e-6)


def test_quantum_metric_bounds_the_berry_curvature_on_a_fine_mesh(lohse):
    # g_kk g_phiphi - g_kphi^2 >= Omega^2 / 4 for any band (equality for two-level systems), up to discretisation
    det = (lohse.quantum_metric_kk * lohse.quantum_metric_phiphi - lohse.quantum_metric_kphi**2).values
    omega = lohse.berry_curvature.values
    scale = np.abs(omega).max(axis=(1, 2), keepdims=True)
    assert np.all(np.sqrt(np.clip(det, 0, None)) - np.abs(omega) / 2 > -0.03 * scale)
    assert np.all(lohse.quantum_metric_kk.values > 0)
