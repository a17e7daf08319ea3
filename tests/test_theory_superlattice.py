"""Superlattice bands and Chern numbers against closed forms and physics.md."""

import numpy as np
import pytest

from atompump.errors import GapClosedError
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
    with pytest.raises(ValueError, match="raise theory.n_bands"):
        expected_displacement(np.array([1]), [0.5, 0.5])


def test_parameters_checked_at_the_door():
    with pytest.raises(ValueError, match="Vs_Er must be a finite depth"):
        SuperlatticeParams(Vs_Er=-1)
    with pytest.raises(ValueError, match="lambda_l_nm must be positive"):
        SuperlatticeParams(lambda_l_nm=0)
