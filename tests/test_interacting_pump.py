"""Interacting Rice-Mele pumps by exact diagonalisation (issue 13, item 1): limits, breakdown, interaction-induced
pumping, the Hilbert-space check."""

import numpy as np
import pytest

from atompump.errors import ParameterError
from atompump.theory.interacting.fock import fock_space, space_dimension
from atompump.theory.interacting.hubbard import (
    OffsetRiceMele,
    RiceMeleRing,
    breakdown_point,
    interacting_pump,
)
from atompump.theory.rice_mele import RiceMeleParams, real_space_hamiltonian, winding_chern_number

MODEL = RiceMeleParams(J=1.0, dJ=0.5, Delta=1.0)


@pytest.mark.parametrize("dJ", [0.5, -0.5])
def test_u0_gives_the_single_particle_chern_number(dJ):
    model = RiceMeleParams(J=1.0, dJ=dJ, Delta=1.0)
    c = winding_chern_number(model)
    assert c == (1 if dJ > 0 else -1)
    spinless = interacting_pump(model, n_cells=3, particles="fermions")
    assert spinless.pumped_charge == c and spinless.resta.pumped_charge == c
    assert spinless.chern.chern_raw == pytest.approx(c, abs=1e-9)
    # the many-body gap of the filled lower band is the band gap 2 min(Delta, 2 dJ) = 2
    assert spinless.chern.min_gap == pytest.approx(MODEL.min_gap(), rel=1e-6)
    spinful = interacting_pump(model, n_cells=3, particles="spinful", U=0.0, n_theta=4, n_phi=12, n_phi_resta=24)
    assert spinful.pumped_charge == 2 * c and spinful.resta.pumped_charge == 2 * c  # one per spin


def test_free_fermion_ground_energy_is_the_sum_of_filled_single_particle_levels():
    ring = RiceMeleRing(MODEL, n_cells=3, particles="fermions")
    for theta, phi in [(0.3, 0.7), (2.0, 4.0)]:
        levels = np.linalg.eigvalsh(real_space_hamiltonian(MODEL, phi, 3, boundary="periodic", twist=theta))
        many = np.linalg.eigvalsh(ring.hamiltonian(theta, phi).toarray())
        assert many[0] == pytest.approx(levels[:3].sum(), abs=1e-10)


def test_hard_core_bosons_are_free_fermions_with_a_shifted_twist():
    n_cells = 4  # N = 4 particles: Jordan-Wigner shifts the twist by pi (N - 1) = pi (mod 2 pi)
    bosons = RiceMeleRing(MODEL, n_cells=n_cells, particles="bosons", max_occupation=1)
    fermions = RiceMeleRing(MODEL, n_cells=n_cells, particles="fermions")
    assert bosons.dimension == fermions.dimension == 70
    for theta, phi in [(0.0, 0.4), (1.1, 2.5)]:
        eb = np.linalg.eigvalsh(bosons.hamiltonian(theta, phi).toarray())
        ef = np.linalg.eigvalsh(fermions.hamiltonian(theta + np.pi, phi).toarray())
        np.testing.assert_allclose(eb, ef, atol=1e-10)
    hard_core = interacting_pump(MODEL, n_cells=n_cells, particles="bosons", max_occupation=1, resta=False)
    free = interacting_pump(MODEL, n_cells=n_cells, particles="fermions", resta=False)
    assert hard_core.pumped_charge == free.pumped_charge == 1


def test_soft_core_bosons_at_unit_filling_pump_one_particle():
    # Lohse's atoms: one boson per long-lattice cell; the pump survives moderate U
    result = interacting_pump(MODEL, n_cells=3, particles="bosons", max_occupation=2, U=4.0)
    assert result.dimension == 50 and result.pumped_charge == 1 and result.resta.pumped_charge == 1


def test_hubbard_pump_breaks_down_where_the_many_body_gap_closes():
    # Walter et al. 2023: quantised (2 per cycle, one per spin) at weak U, 0 at strong U
    mesh = {"n_theta": 4, "n_phi": 12}
    weak = interacting_pump(MODEL, n_cells=3, U=1.0, resta=False, **mesh)
    strong = interacting_pump(MODEL, n_cells=3, U=6.0, resta=False, **mesh)
    assert weak.pumped_charge == 2 and strong.pumped_charge == 0
    assert weak.chern.min_gap > 1.0 and strong.chern.min_gap > 0.4
    assert interacting_pump(MODEL, n_cells=3, U=4.0, resta=False, **mesh).pumped_charge == 0
    u_star, low, high = breakdown_point(MODEL, u_low=3.0, u_high=3.5, steps=4, **mesh)
    assert (low.pumped_charge, high.pumped_charge) == (2, 0)
    # on this 6-site ring the transition sits at U ~ 3.1 (2 Delta = 2 for an infinite chain plus finite-size
    # shift); the gap at both ends of the final bracket has closed to a few per cent of its weak-U value
    assert 3.05 < u_star < 3.15
    assert max(low.chern.min_gap, high.chern.min_gap) < 0.02 * weak.chern.min_gap


def test_interaction_induced_pump_transfers_half_the_charge():
    # Viebahn et al. 2024: a loop that misses the U = 0 degeneracy point (Delta0 = 1.5 > Delta = 1) is trivial
    # without interactions and pumps one particle per cycle at strong U: half the two of the loop around it
    loop = OffsetRiceMele(J=1.0, dJ=0.5, Delta=1.0, Delta0=1.5)
    assert winding_chern_number(loop) == 0
    assert interacting_pump(loop, n_cells=3, U=0.0, resta=False, n_theta=4, n_phi=12).pumped_charge == 0
    induced = interacting_pump(loop, n_cells=3, U=4.0, n_theta=4, n_phi=16)
    assert induced.pumped_charge == 1 and induced.resta.pumped_charge == 1
    centred = interacting_pump(MODEL, n_cells=3, U=0.0, resta=False, n_theta=4, n_phi=12)
    assert induced.pumped_charge / centred.pumped_charge == 0.5


def test_fock_dimensions_match_combinatorics():
    assert space_dimension(n_sites=8, particles="spinful", n_particles=(4, 4)) == 70**2
    assert space_dimension(n_sites=6, particles="bosons", n_particles=3, max_occupation=3) == 56  # C(8, 3)
    assert fock_space(n_sites=6, particles="bosons", n_particles=3, max_occupation=3).dimension == 56
    assert space_dimension(n_sites=6, particles="bosons", n_particles=3, max_occupation=2) == 50


def test_too_large_hilbert_space_is_refused_with_its_size():
    with pytest.raises(ParameterError, match=r"dimension 2,704,156, above .* lower the number of sites"):
        RiceMeleRing(MODEL, n_cells=12, particles="fermions")  # C(24, 12), refused before any allocation
    with pytest.raises(ParameterError, match=r"dimension 4,900, above the limit 1,000"):
        RiceMeleRing(MODEL, n_cells=4, particles="spinful", max_dimension=1000)
