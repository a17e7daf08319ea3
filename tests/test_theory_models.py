"""The seed's model family: Aubry–André, Harper–Hofstadter (TKNN, Laughlin), quantum-dot pump, disorder."""

import warnings

import numpy as np
import pytest

from atompump.errors import GapClosedError
from atompump.theory.aubry_andre import (
    AubryAndreParams,
    aubry_andre_topology,
    diophantine_chern_numbers,
    diophantine_t,
    pumped_charge_per_gap,
)
from atompump.theory.berry import wannier_centres
from atompump.theory.disorder import disorder_transition, disordered_pump
from atompump.theory.dot_pump import DotLoop, brouwer_charges, dot_occupation, dot_pump, winding_number
from atompump.theory.hofstadter import (
    HofstadterParams,
    hall_conductance,
    hofstadter_topology,
    laughlin_flux_insertion,
    tknn_hall_conductance,
)
from atompump.theory.rice_mele import RiceMeleParams

# --- Diophantine equation (physics.md): r = q s_r + p t_r, |t_r| <= q/2 --------------------------------------


@pytest.mark.parametrize("p, q, expected", [(1, 3, [1, -1]), (1, 4, [1, None, -1]), (2, 5, [-2, 1, -1, 2]),
                                            (3, 7, [-2, 3, 1, -1, -3, 2])])
def test_diophantine_solutions(p, q, expected):
    t = diophantine_t(p, q)
    assert t == expected
    for r, tr in enumerate(t, start=1):
        if tr is not None:
            assert (r - p * tr) % q == 0 and abs(tr) <= q / 2


def test_physics_md_example_one_third_up_to_the_global_sign():
    # physics.md: p/q = 1/3 gives (1, -2, 1) up to a global sign; with V cos(2 pi j/3 + phi), V > 0, the lowest
    # band is dragged towards -x as phi grows, so in the physics.md sign it is (-1, 2, -1)
    topo = aubry_andre_topology(AubryAndreParams(J=1.0, V=1.0, p=1, q=3))
    assert topo.band_chern_numbers().tolist() == [-1, 2, -1]
    centres = wannier_centres(topo.wannier_group(0), lattice_constant=3.0)  # in sites
    assert centres[-1] - centres[0] == pytest.approx(-3.0, abs=1e-9)


@pytest.mark.parametrize("p, q, V", [(1, 3, 0.5), (1, 3, 3.0), (2, 5, 1.0), (3, 7, 2.0), (1, 5, 3.0)])
def test_aubry_andre_band_chern_numbers_and_pumped_charge_from_diophantine(p, q, V):
    topo = aubry_andre_topology(AubryAndreParams(J=1.0, V=V, p=p, q=q))
    assert topo.isolated
    assert topo.band_chern_numbers().tolist() == diophantine_chern_numbers(p, q)
    assert pumped_charge_per_gap(topo) == [-t for t in diophantine_t(p, q)]
    assert np.abs(topo.chern_numbers_raw - topo.chern_numbers).max() < 1e-6


def test_even_q_central_bands_are_grouped_and_their_sum_is_topological():
    topo = aubry_andre_topology(AubryAndreParams(J=1.0, V=1.5, p=1, q=4))
    assert topo.groups == [[0], [1, 2], [3]]
    assert topo.chern_numbers.tolist() == [-1, 2, -1]
    assert pumped_charge_per_gap(topo) == [-1, None, 1]
    with pytest.raises(GapClosedError, match="bands 2 and 3 touch"):
        topo.band_chern_numbers()


def test_aubry_andre_parameters_checked():
    with pytest.raises(ValueError, match="not in lowest terms"):
        AubryAndreParams(p=2, q=4)
    with pytest.raises(ValueError, match="q must be a positive integer"):
        AubryAndreParams(q=0)


# --- Hofstadter: TKNN tables, sigma_xy, Laughlin's flux insertion -----------------------------------------------


@pytest.mark.parametrize("p, q", [(1, 3), (1, 4), (2, 5), (3, 7)])
def test_hofstadter_hall_conductance_follows_tknn(p, q):
    topo = hofstadter_topology(HofstadterParams(p=p, q=q))
    assert hall_conductance(topo) == tknn_hall_conductance(p, q)
    if q == 3:
        assert topo.chern_numbers.tolist() == [-1, 2, -1]  # (1, -2, 1) of physics.md, field along -z
    if q % 2 == 0:
        assert [len(g) for g in topo.groups] == [1] * (q // 2 - 1) + [2] + [1] * (q // 2 - 1)
    assert sum(topo.chern_numbers) == 0  # all bands together carry nothing


def test_hofstadter_spectrum_is_symmetric_and_bounded():
    topo = hofstadter_topology(HofstadterParams(p=2, q=5))
    e = topo.energies[:-1, :-1]  # each point of the magnetic Brillouin zone once
    np.testing.assert_allclose(np.sort(e.ravel()), np.sort(-e.ravel()), atol=1e-12)  # chiral symmetry
    assert np.abs(e).max() <= 4.0 + 1e-12


@pytest.mark.parametrize("p, q", [(1, 3), (2, 5)])
def test_laughlin_flux_insertion_moves_sigma_xy_states_between_edges(p, q):
    params = HofstadterParams(p=p, q=q)
    topo = hofstadter_topology(params)
    sigma = hall_conductance(topo)
    results = laughlin_flux_insertion(params, topology=topo)
    assert [r.gap for r in results] == list(range(1, q))
    for r in results:
        assert r.to_right == sigma[r.gap - 1]
        assert r.to_left == -r.to_right
        assert len(r.crossings) == 2 * abs(sigma[r.gap - 1])  # no spurious crossings


def test_laughlin_refuses_a_closed_gap():
    with pytest.raises(GapClosedError, match="gap above band 2 is closed"):
        laughlin_flux_insertion(HofstadterParams(p=1, q=4), [2])


# --- quantum-dot pump -------------------------------------------------------------------------------------------


def test_dot_pump_charge_equals_winding_one_or_zero():
    encircling = dot_pump(DotLoop(eps0=0.0, eps1=50.0, gamma=1.0, asymmetry=0.995))
    assert encircling.winding_number == 1
    assert encircling.pumped_charge == pytest.approx(1.0, abs=0.01)
    missing = dot_pump(DotLoop(eps0=100.0, eps1=50.0, gamma=1.0, asymmetry=0.995))
    assert missing.winding_number == 0
    assert abs(missing.pumped_charge) < 1e-5
    reverse = dot_pump(DotLoop(eps0=0.0, eps1=50.0, gamma=1.0, asymmetry=-0.995))
    assert reverse.winding_number == -1 and reverse.pumped_charge == pytest.approx(-encircling.pumped_charge)
    # a full cycle returns the dot's charge: what leaves one lead enters the other
    assert encircling.charge_into_left == pytest.approx(-encircling.charge_into_right, abs=1e-9)


@pytest.mark.parametrize("s", [0.3, 0.6, 0.9])
def test_dot_pump_charge_tends_to_asymmetry_times_winding(s):
    # |eps1| >> Gamma: the level fills from the left with probability (1 + s)/2 and empties to the right with the
    # same probability, so the net charge per cycle is s
    result = dot_pump(DotLoop(eps0=0.0, eps1=200.0, gamma=1.0, asymmetry=s))
    assert result.pumped_charge == pytest.approx(s, abs=3e-3)


def test_brouwer_charges_obey_the_friedel_sum_rule():
    loop = DotLoop(eps0=0.3, eps1=5.0, gamma=1.0, asymmetry=0.4)
    for t0, t1 in [(0.0, 0.5), (0.1, 0.35), (0.6, 0.95)]:
        q_left, q_right = brouwer_charges(loop, t_start=t0, t_stop=t1)
        n0 = dot_occupation(loop.at(t0)[0], loop.gamma)
        n1 = dot_occupation(loop.at(t1)[0], loop.gamma)
        assert q_left + q_right == pytest.approx(-(n1 - n0), abs=2e-5)


def test_dot_loop_through_the_degeneracy_point_is_an_error():
    with pytest.raises(GapClosedError, match="passes through the charge-degeneracy point"):
        winding_number(DotLoop(eps0=0.0, eps1=5.0, asymmetry=0.0))
    with pytest.raises(ValueError, match="asymmetry must lie in"):
        DotLoop(asymmetry=1.0)


# --- disorder ---------------------------------------------------------------------------------------------------

RM = RiceMeleParams(J=1.0, dJ=0.5, Delta=1.0)


def test_clean_ring_pumps_the_rice_mele_chern_number():
    result = disordered_pump(RM, n_cells=6)
    assert result.pumped_charge == 1
    assert result.min_gap == pytest.approx(RM.min_gap(), rel=1e-6)


def test_weak_disorder_keeps_the_charge_quantised():
    rng = np.random.default_rng(11)
    for _ in range(4):
        result = disordered_pump(RM, n_cells=6, disorder=1.0, rng=rng)
        assert result.pumped_charge == 1
        assert abs(result.pumped_charge_raw - 1) < 1e-6
        assert result.min_gap > 0.5


def test_strong_disorder_breaks_pumping_only_through_a_gap_closing():
    pattern = np.random.default_rng(5).uniform(-0.5, 0.5, 8)  # on-site energies W * pattern, 4 cells
    strong = disordered_pump(RM, n_cells=4, onsite=30.0 * pattern)
    assert strong.pumped_charge == 0  # sites pinned by disorder: nothing moves
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # meshes cannot resolve the bracket's ends exactly
        w_star, low, high = disorder_transition(RM, pattern, w_low=1.0, w_high=30.0, steps=10, max_refinements=2)
        fine = [disordered_pump(RM, n_cells=4, onsite=r.onsite, n_theta=32, n_phi=128, max_refinements=1)
                for r in (low, high)]
    assert high.onsite[0] / pattern[0] - low.onsite[0] / pattern[0] < 0.03
    assert [r.pumped_charge for r in (low, high)] == [r.pumped_charge for r in fine] == [1, 0]
    # the charge changes only where the many-body gap closes, and the gap is wide open well before
    assert max(r.min_gap for r in fine) < 0.01 * RM.min_gap()
    assert disordered_pump(RM, n_cells=4, onsite=0.5 * w_star * pattern).min_gap > 0.25 * RM.min_gap()


def test_disorder_needs_a_seeded_generator():
    with pytest.raises(ValueError, match="default_rng"):
        disordered_pump(RM, disorder=1.0)
