"""Coulomb-blockade turnstile by a sequential-tunnelling master equation (issue 13, item 4)."""

import numpy as np
import pytest

from atompump.theory.dot_pump import DotLoop, dot_pump
from atompump.theory.interacting.coulomb_dot import (
    adiabatic_charge,
    charge_per_cycle,
    loop_segments,
    turnstile_closed_form,
    turnstile_segments,
)


@pytest.mark.parametrize("frequency", [0.01, 0.05, 0.1, 0.5, 2.0])
def test_plateau_erodes_with_frequency_as_tanh(frequency):
    # spinless, T = 0, level at -+5: Q = tanh(Gamma tau / 2) with tau = 1 / (4 f) the open quarter
    q = charge_per_cycle(turnstile_segments(frequency=frequency, gamma=1.0))
    assert q == pytest.approx(np.tanh(1.0 / (8 * frequency)), rel=1e-9)
    assert q == pytest.approx(turnstile_closed_form(frequency=frequency), rel=1e-9)


@pytest.mark.parametrize("kT", [0.5, 2.0, 5.0])
def test_plateau_erodes_with_temperature(kT):
    # slow drive: Q = f(-5) - f(5) = tanh(5 / 2kT)
    q = charge_per_cycle(turnstile_segments(frequency=1e-3), kT=kT)
    assert q == pytest.approx(np.tanh(5.0 / (2 * kT)), rel=1e-6)
    q_fast = charge_per_cycle(turnstile_segments(frequency=0.1), kT=kT)
    assert q_fast == pytest.approx(turnstile_closed_form(frequency=0.1, kT=kT), rel=1e-9)


def test_spin_degenerate_dot_with_large_charging_energy_matches_the_two_state_closed_form():
    for f in (0.02, 0.2):
        q = charge_per_cycle(turnstile_segments(frequency=f), U=200.0, kT=0.5, spinful=True)
        assert q == pytest.approx(turnstile_closed_form(frequency=f, kT=0.5, spinful=True), rel=1e-9)


def test_charging_energy_makes_a_single_electron_turnstile():
    segments = turnstile_segments(frequency=0.01, eps_load=-5.0, eps_unload=5.0)
    charges = [charge_per_cycle(segments, U=u, kT=0.5, spinful=True) for u in (0.0, 2.0, 12.0)]
    # no blockade: both spin states load below the Fermi level, two electrons per cycle
    assert charges[0] == pytest.approx(2.0, abs=1e-3) and charges[1] == pytest.approx(2.0, abs=0.01)
    # charging energy above |eps_load| + several kT keeps the second electron out: the plateau at one
    assert charges[2] == pytest.approx(1.0, abs=1e-3)


def test_slow_loop_agrees_with_brouwer_where_both_apply():
    # the quantum-dot loop of theory.dot_pump (U = 0): at kT, Gamma << eps1 both give the asymmetry s
    loop = DotLoop(eps0=0.0, eps1=40.0, gamma=1.0, asymmetry=0.9)
    brouwer = dot_pump(loop).pumped_charge
    master = charge_per_cycle(loop_segments(loop, frequency=1e-4), kT=0.5)
    assert master == pytest.approx(adiabatic_charge(loop, kT=0.5), abs=1e-4)
    assert master == pytest.approx(0.9, abs=1e-3) and brouwer == pytest.approx(master, abs=1e-3)
    # a loop that misses the degeneracy point pumps nothing in either description
    missed = DotLoop(eps0=80.0, eps1=40.0)
    assert abs(charge_per_cycle(loop_segments(missed, frequency=1e-4), kT=0.5)) < 1e-6
    assert abs(dot_pump(missed).pumped_charge) < 1e-4


def test_bad_drive_is_refused():
    with pytest.raises(ValueError, match="frequency and gamma must be positive"):
        turnstile_segments(frequency=0.0)
