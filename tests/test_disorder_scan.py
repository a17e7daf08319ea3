"""Disorder plateaus of the pumped charge over seeded realisations (issue 13, item 5)."""

import pytest

from atompump.theory.interacting.disorder_scan import disorder_scan
from atompump.theory.rice_mele import RiceMeleParams

MODEL = RiceMeleParams(J=1.0, dJ=0.5, Delta=1.0)


@pytest.fixture(scope="module")
def scan():
    return disorder_scan(MODEL, [0.0, 1.0, 40.0], sizes=(4,), n_samples=2, seed=7, n_theta=6, n_phi=16)


def test_plateau_at_the_clean_chern_number_while_the_gap_is_open(scan):
    rows = scan["per_size"][4]
    assert scan["clean_charge"] == 1
    assert rows["mean_charge"][:2] == [1.0, 1.0] and rows["clean_fraction"][1] == 1.0
    assert rows["typical_gap"][0] == pytest.approx(2.0)  # clean gap 2 min(Delta, 2 dJ)
    assert 0.5 < rows["typical_gap"][1] < 2.0  # weak disorder narrows the gap but leaves it open


def test_strong_disorder_ends_the_plateau(scan):
    rows = scan["per_size"][4]
    # W = 40 >> bandwidth: the sites are pinned, nothing is pumped in most realisations
    assert rows["mean_charge"][2] < 0.5 and rows["clean_fraction"][2] < 0.5


def test_scan_is_reproducible_and_seeded(scan):
    again = disorder_scan(MODEL, [1.0], sizes=(4,), n_samples=2, seed=7, n_theta=6, n_phi=16)
    assert again["per_size"][4]["typical_gap"][0] == scan["per_size"][4]["typical_gap"][1]
    other = disorder_scan(MODEL, [1.0], sizes=(4,), n_samples=2, seed=8, n_theta=6, n_phi=16)
    assert other["per_size"][4]["typical_gap"][0] != scan["per_size"][4]["typical_gap"][1]


def test_interacting_ring_keeps_its_plateau_under_weak_disorder():
    scan = disorder_scan(MODEL, [0.0, 0.5], sizes=(2,), n_samples=2, seed=1, U=1.0, n_theta=4, n_phi=12)
    assert scan["clean_charge"] == 2 and scan["per_size"][2]["mean_charge"] == [2.0, 2.0]
    with pytest.raises(ValueError, match="disorder widths must be finite and >= 0"):
        disorder_scan(MODEL, [-1.0])
