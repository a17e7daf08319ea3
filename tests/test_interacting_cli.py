"""``atompump theory`` sub-commands of the interacting models (issue 13, item 6): JSON, tables, errors."""

import json

import pytest

from atompump.cli import main


def run_json(capsys, *argv):
    assert main(["theory", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_hubbard_pump_json_and_scan(capsys):
    out = run_json(capsys, "hubbard-pump", "--U", "4", "--Delta0", "1.5", "--n-theta", "4", "--n-phi", "12",
                   "--scan-U", "0")
    assert out["chern_numbers"] == [1] and out["pumped_charge"] == 1 and out["hilbert_dimension"] == 400
    assert out["table"] == [{"U": 0.0, "pumped_charge": 0, "min_gap": pytest.approx(1.0), "resta": 0}]
    assert main(["theory", "hubbard-pump", "--particles", "fermions", "--n-theta", "4", "--n-phi", "12"]) == 0
    text = capsys.readouterr().out
    assert "model: hubbard-pump" in text and "pumped_charge: 1" in text and "+1" in text


def test_hofstadter_bosons_and_fractional_pump_tables(capsys):
    out = run_json(capsys, "hofstadter-bosons", "--n-theta", "4")
    assert out["band_groups"] == [[1, 2]] and out["chern_numbers"] == [-1] and out["filling"] == 0.5
    assert out["sigma_xy_per_state"] == -0.5 and out["min_gaps"][0] is None and out["min_gaps"][1] > 0.25
    # Laughlin's flux insertion: back after 2 quanta, -1/2 of a particle along x per quantum
    assert out["flux_quanta_to_return"] == 2 and out["charge_per_flux_quantum"] == pytest.approx(-0.5)
    assert main(["theory", "fractional-pump", "--n-sites", "9", "--n-particles", "1", "--manifold", "1"]) == 0
    assert "total_chern_number" in capsys.readouterr().out


def test_coulomb_dot_table_against_the_closed_form(capsys):
    out = run_json(capsys, "coulomb-dot", "--frequency", "0.01", "0.5", "--kT", "0.01")
    slow, fast = out["table"]
    assert slow["charge_per_cycle"] == pytest.approx(1.0, abs=1e-6)
    assert fast["charge_per_cycle"] == pytest.approx(fast["closed_form_two_states"], rel=1e-9)
    assert fast["charge_per_cycle"] < 0.3
    assert main(["theory", "coulomb-dot", "--spinful", "--charging-energy", "0", "--frequency", "0.01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[:3] == ["kT", "frequency", "charge_per_cycle"] and lines[3].split()[2] == "2"


def test_bad_parameters_exit_with_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["theory", "hubbard-pump", "--n-cells", "12"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "the Hilbert space has dimension 7,312,459,672,336" in err and "lower the number of sites" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        main(["theory", "hofstadter-bosons", "--Lx", "3"])
    assert "must be an integer on a torus" in capsys.readouterr().err
