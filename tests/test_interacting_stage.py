"""The interacting prediction in the product (issue 13, item 6): theory stage, report rows, Hilbert-space check."""

import json

import pytest

from atompump.config import config_section
from atompump.errors import ConfigError
from atompump.stages.report import theory_rows
from atompump.stages.theory import theory_stage

LATTICE = {"lambda_l_nm": 1534.0, "Vs_Er": 10.0, "Vl_Er": 20.0}
THEORY = config_section("theory", {"n_bands": 2, "n_k": 12, "n_phi": 24, "n_max": 8})
PUMP = {"period_ms": 400.0, "phi0": 0.0, "ramp_on_ms": 0.0, "loading": "populations", "band_populations": [1.0],
        "temperature_nK": 0.0, "statistics": "boltzmann", "filling": 1.0}
BOSONS = {"particles": "bosons", "U_Er": 0.5, "n_cells": 3, "max_occupation": 2, "max_dimension": 200000}


def test_theory_stage_adds_the_interacting_prediction_beside_the_free_one(tmp_path):
    paths = [tmp_path / "theory.json", tmp_path / "bands.nc", tmp_path / "wannier.nc"]
    summary = theory_stage(*paths, lattice=LATTICE, theory=config_section("theory", {**THEORY, "interaction": BOSONS}),
                           atom="Rb87", pump=PUMP)
    written = json.loads(paths[0].read_text())
    inter = written["interacting"]
    # Lohse's Mott insulator (one boson per long-lattice cell) with U = 0.5 Er,s: still one dl per cycle
    assert inter["chern_number"] == 1 and inter["nu_theory_interacting"] == 1.0 == written["nu_theory"]
    assert inter["hilbert_dimension"] == 50 and inter["min_gap"] > 0.05 and inter["particles"] == "bosons"
    rows = {label: value for label, value, _ in theory_rows(written)}
    assert rows["nu_theory without interactions"] == 1.0
    assert [v for k, v in rows.items() if k.startswith("nu_theory with interactions (bosons, U = 0.5 Er,s")] == [1.0]
    assert summary["interacting"] == inter


def test_non_interacting_default_adds_nothing():
    assert theory_rows({"nu_theory": 1.0}) == []
    from atompump.stages.theory import _interacting

    assert _interacting(None, {"interaction": {"particles": "none", "U_Er": 3.0}}) is None
    assert _interacting(None, config_section("theory")) is None  # the schema's default: particles none


def test_too_large_ring_stops_before_the_band_calculation(tmp_path):
    big = {**BOSONS, "n_cells": 12, "max_occupation": 3}
    paths = [tmp_path / "theory.json", tmp_path / "bands.nc", tmp_path / "wannier.nc"]
    with pytest.raises(ConfigError, match=r"^config key 'theory.interaction.n_cells': the interacting ring \(bosons, "
                                          r"n_cells 12, max_occupation 3\): the Hilbert space has dimension "
                                          r"649,964,176, above the limit 200,000 .* lower theory.interaction.n_cells "
                                          r"\(or theory.interaction.max_occupation\), or raise "
                                          r"theory.interaction.max_dimension"):
        theory_stage(*paths, lattice=LATTICE, theory=config_section("theory", {**THEORY, "interaction": big}),
                     atom="Rb87", pump=PUMP)
    assert not paths[0].exists()
    # the library alone names its own parameters
    from atompump.errors import ParameterError
    from atompump.theory.interacting.prediction import interacting_prediction

    with pytest.raises(ParameterError, match=r"^the interacting ring \(bosons, n_cells 12, max_occupation 3\): .* lower "
                                             r"n_cells \(or max_occupation\), or raise max_dimension if"):
        interacting_prediction(None, particles="bosons", U_Er=3.0, n_cells=12, max_occupation=3, max_dimension=200_000)
