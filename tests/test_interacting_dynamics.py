"""Time evolution of an interacting pump (issue 13, item 3): the adiabatic limit is the Chern number of item 1."""

import pytest

from atompump.theory.interacting.dynamics import period_scan
from atompump.theory.interacting.hubbard import RiceMeleRing, interacting_pump
from atompump.theory.rice_mele import RiceMeleParams

MODEL = RiceMeleParams(J=1.0, dJ=0.5, Delta=1.0)


def test_free_fermions_pump_the_chern_number_when_slow_and_less_when_fast():
    ring = RiceMeleRing(MODEL, n_cells=3, particles="fermions")
    fast, slow = period_scan(ring, [2.0, 40.0], n_theta=4, steps_per_unit_time=5.0, min_steps=80)
    # the sudden start at phi = 0 leaves an O(1/T) oscillating remainder: 1.6 % at T = 40 / J
    assert slow["charge_per_cycle"] == pytest.approx(1.0, abs=0.03)
    assert fast["charge_per_cycle"] < 0.8  # non-adiabatic loss at T = 2 / J


def test_interacting_bosons_approach_their_many_body_chern_number():
    ring = RiceMeleRing(MODEL, n_cells=3, particles="bosons", U=4.0, max_occupation=2)
    chern = interacting_pump(MODEL, n_cells=3, particles="bosons", U=4.0, resta=False, n_theta=4,
                             n_phi=12).pumped_charge
    fast, slow = period_scan(ring, [2.0, 40.0], n_theta=4, steps_per_unit_time=5.0, min_steps=80)
    assert chern == 1 and slow["charge_per_cycle"] == pytest.approx(chern, abs=0.05)
    assert fast["charge_per_cycle"] < 0.6
