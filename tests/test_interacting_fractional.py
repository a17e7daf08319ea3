"""Fractional pumping of superlattice bosons and Harper-Hofstadter bosons at nu = 1/2 (issue 13, item 2)."""

import numpy as np
import pytest

from atompump.theory.aubry_andre import AubryAndreParams, aubry_andre_topology
from atompump.theory.hofstadter import HofstadterParams, hofstadter_topology
from atompump.theory.interacting.fractional import (
    HofstadterBosons,
    SuperlatticeBosons,
    flux_insertion_return,
    fractional_pump,
    hofstadter_chern,
)
from atompump.theory.interacting.manybody import torus_chern


def test_filled_lowest_superlattice_band_pumps_its_chern_number():
    # spinless fermions filling the lowest band of V cos(2 pi j / 3 + phi): the Aubry-Andre band's Chern number
    band = aubry_andre_topology(AubryAndreParams(J=1.0, V=3.0, p=1, q=3)).chern_numbers[0]
    chain = SuperlatticeBosons(n_sites=9, n_particles=3, alpha=1 / 3, V=3.0, particles="fermions")
    assert torus_chern(chain.hamiltonian, n_theta=4, n_phi=12).chern_number == band == -1


def test_bosons_at_half_filling_of_the_band_pump_half_a_particle_per_state():
    # Zeng, Zhu & Sheng: hard-core bosons with repulsion (V1 within 3 sites) at half filling of the lowest band
    # (2 bosons, 12 sites, alpha = 1/3): a two-fold quasi-degenerate ground state with the band's Chern number
    result = fractional_pump(n_sites=12, n_particles=2, alpha=1 / 3, V=3.0, V1=8.0, m=2, n_theta=4, n_phi=12)
    assert result.chern.chern_number == -1 and result.chern.chern_raw == pytest.approx(-1.0, abs=1e-9)
    assert result.chern.charge_per_state == -0.5
    # the pair (split by < 0.06 J) stays > 1.3 J below the third state over the whole torus
    assert result.chern.max_splitting < 0.06 and result.chern.min_gap > 1.3
    # one state carried adiabatically along phi becomes the other after one cycle and returns after two, having
    # moved its polarisation by -1: -1/2 per cycle
    assert result.return_cycles == 2
    assert result.transported_charge_per_cycle == pytest.approx(-0.5, abs=0.02)


def test_free_fermions_on_the_hofstadter_torus_give_the_tknn_number():
    band = hofstadter_topology(HofstadterParams(p=1, q=3)).chern_numbers[0]
    fermions = HofstadterBosons(Lx=3, Ly=3, p=1, q=3, n_particles=3, particles="fermions")
    assert hofstadter_chern(fermions, m=1, n_theta=5).chern_number == band == -1


def test_hofstadter_bosons_at_half_filling_share_one_chern_number():
    # Hafezi et al. 2007: hard-core bosons, flux 1/4 on a 4 x 4 torus (4 flux quanta), N = 2 (nu = 1/2)
    bosons = HofstadterBosons(Lx=4, Ly=4, p=1, q=4, n_particles=2)
    assert bosons.flux_quanta == 4 and bosons.space.dimension == 120
    result = hofstadter_chern(bosons, m=2, n_theta=5)
    # two degenerate ground states (magnetic translations) well below the third state over all twists
    assert result.max_splitting < 1e-9 and result.min_gap > 0.25
    # |C| = 1 for the pair, with the lowest single-particle band's sign: sigma_xy = C/2 = -1/2 per state here
    assert result.chern_number == hofstadter_topology(HofstadterParams(p=1, q=4)).chern_numbers[0] == -1
    assert result.charge_per_state == -0.5
    # the single ground state alone is not a well-defined many-body state: its gap is zero
    assert hofstadter_chern(bosons, m=1, n_theta=3).min_gap < 1e-9


def test_laughlin_flux_insertion_needs_two_quanta_at_half_filling():
    # Laughlin on the lattice: one flux quantum threaded uniformly through the y cycle shifts the total y momentum by
    # 2 pi N / Ly = pi, which is the other ground state; after two quanta the state is back, having moved -1/2 of a
    # particle along x per quantum (sigma_xy = -1/2 per state, the sign of the lowest band)
    bosons = HofstadterBosons(Lx=4, Ly=4, p=1, q=4, n_particles=2)
    quanta, charge, overlaps = flux_insertion_return(bosons, m=2, max_quanta=4)
    assert quanta == 2 and charge == pytest.approx(-0.5, abs=1e-9)
    assert overlaps == pytest.approx([0.0, 1.0, 0.0, 1.0], abs=1e-9)
    # the gauge that closes each quantum: exp(2 pi i Y / Ly) H(2 pi) exp(-2 pi i Y / Ly) = H(0)
    g = bosons.large_gauge()
    closed = (g[:, None] * bosons.flux_hamiltonian(2 * np.pi).toarray()) * g.conj()[None, :]
    assert np.abs(closed - bosons.flux_hamiltonian(0.0).toarray()).max() < 1e-12
    # the uniform flux conserves the y translation at every theta_y
    ty = bosons.y_translation()
    h = bosons.flux_hamiltonian(0.7)
    assert abs(h @ ty - ty @ h).max() < 1e-12


def test_flux_insertion_of_a_filled_band_moves_its_chern_number_per_quantum():
    # free fermions filling the lowest band of flux 1/4 (4 states on the 4 x 4 torus): a unique ground state that
    # returns after one quantum having moved C = -1 particle along x (the TKNN number)
    fermions = HofstadterBosons(Lx=4, Ly=4, p=1, q=4, n_particles=4, particles="fermions")
    ty, h = fermions.y_translation(), fermions.flux_hamiltonian(0.3)
    assert abs(h @ ty - ty @ h).max() < 1e-12  # with the fermionic reordering signs (without them: 2 J)
    quanta, charge, _ = flux_insertion_return(fermions, m=1, max_quanta=2)
    assert quanta == 1 and charge == pytest.approx(hofstadter_topology(HofstadterParams(p=1, q=4)).chern_numbers[0])


def test_torus_needs_an_integer_flux():
    with pytest.raises(ValueError, match="must be an integer on a torus"):
        HofstadterBosons(Lx=3, Ly=3, p=1, q=4, n_particles=1)
    with pytest.raises(ValueError, match="alpha \\* n_sites must be an integer"):
        SuperlatticeBosons(n_sites=10, n_particles=2, alpha=1 / 3, V=1.0)
    assert np.isfinite(SuperlatticeBosons(n_sites=6, n_particles=1, alpha=1 / 3, V=1.0).positions()).all()
