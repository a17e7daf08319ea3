"""``atompump theory MODEL``: every model's JSON, tables, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest

from atompump.cli import main


def run_json(capsys, *argv):
    assert main(["theory", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_superlattice_json_has_the_contract_and_the_extras(capsys):
    out = run_json(capsys, "superlattice", "--Vs", "10", "--Vl", "20", "--lambda-l-nm", "1534",
                   "--cycle-period-ms", "400")
    assert out["chern_numbers"] == [1, -1, 1] and all(isinstance(c, int) for c in out["chern_numbers"])
    assert out["energy_unit"] == "Er,s" and len(out["min_gaps"]) == 3
    assert out["min_gaps"][0] == pytest.approx(0.111, abs=0.005)
    assert out["displacement_per_cycle_dl"] == 1.0 and out["dl_um"] == pytest.approx(0.767)
    assert out["rice_mele"]["chern_number"] == 1
    # a sudden start at phi = 0: 1.3 % lost in the first cycle at 400 ms, 1 % needs 439 ms (issue 12 item 3)
    assert out["non_adiabatic"]["loss_first_cycle"] == pytest.approx(0.0133, rel=0.05)
    assert out["non_adiabatic"]["period_for_1pct_loss_ms"] == pytest.approx(439, rel=0.02)
    # quantum geometry: the lowest band's Wannier spread (from the quantum metric) is the prepared cloud's expected
    # single-particle spread; it is below half a short-lattice spacing (ds / 2 = 0.192 um), and pumping a full band
    # has no variance in the pumped charge
    spreads = out["wannier_spread_um"]
    assert len(spreads) == 3 and out["position_spread_um"] == pytest.approx(spreads[0])
    assert 0.1 < spreads[0] < 0.767 / 4 and all(m >= s for m, s in zip(out["wannier_spread_max_um"], spreads))
    assert out["displacement_variance_dl2"] == pytest.approx(0.0)


def test_thermal_position_spread_is_the_population_weighted_band_spread(capsys):
    out = run_json(capsys, "superlattice", "--temperature-nK", "10", "--statistics", "fermi", "--filling", "1")
    p, spreads = out["band_populations"], out["wannier_spread_um"]
    assert out["position_spread_um"] == pytest.approx(sum(pn * s**2 for pn, s in zip(p, spreads)) ** 0.5)
    # variance of the pumped charge per cycle: sum p C^2 - (sum p C)^2 with C = +1, -1, +1
    mean = p[0] - p[1] + p[2]
    assert out["displacement_variance_dl2"] == pytest.approx(sum(p) - mean**2)
    # issue 12 item 6: Omega_I of the band mixture is the population-weighted band spread, shown in the table
    assert out["quantum_geometry"]["omega_I_populated_um2"] == pytest.approx(out["position_spread_um"] ** 2)
    from atompump.theory.commands import format_table

    assert f"Omega_I (phi = 0, populated bands): {out['position_spread_um'] ** 2:.4g} um^2" in format_table(out)


def test_superlattice_thermal_populations(capsys):
    out = run_json(capsys, "superlattice", "--temperature-nK", "10", "--statistics", "fermi", "--filling", "1")
    p = out["band_populations"]
    assert sum(p) == pytest.approx(1.0) and 0.5 < p[0] < 1.0 and p[1] > 0
    assert out["displacement_per_cycle_dl"] == pytest.approx(p[0] - p[1] + p[2])


def test_rice_mele_json(capsys):
    out = run_json(capsys, "rice-mele", "--J", "1", "--dJ", "0.5", "--Delta", "0.3")
    assert out["chern_numbers"] == [1, -1]
    assert out["winding_number"] == 1
    assert out["min_gaps"] == [pytest.approx(0.6)] and out["min_gap_closed_form"] == pytest.approx(0.6)
    assert out["wannier_centre_drift_d"] == [pytest.approx(1.0), pytest.approx(-1.0)]


def test_aubry_andre_json(capsys):
    out = run_json(capsys, "aubry-andre", "--J", "1", "--V", "2", "--p", "2", "--q", "5")
    assert out["chern_numbers"] == [2, -3, 2, -3, 2]
    assert out["pumped_charge_per_gap"] == [2, -1, 1, -2] == [-t for t in out["diophantine_t"]]
    assert out["energy_unit"] == "unit of --J/--V" and len(out["min_gaps"]) == 4


def test_hofstadter_json_with_grouped_bands(capsys):
    out = run_json(capsys, "hofstadter", "--p", "1", "--q", "4")
    assert out["band_groups"] == [[1], [2, 3], [4]]
    assert out["chern_numbers"] == [-1, 2, -1]
    assert out["sigma_xy"] == [-1, None, 1] == out["sigma_xy_diophantine"] == out["laughlin_spectral_flow"]
    assert out["min_gaps"][1] < 1e-6


def test_quantum_dot_json(capsys):
    around = run_json(capsys, "quantum-dot", "--eps0", "0", "--eps1", "40", "--gamma", "1", "--asymmetry", "0.99")
    assert around["chern_numbers"] == [1] and around["pumped_charge"] == pytest.approx(0.99, abs=0.01)
    missed = run_json(capsys, "quantum-dot", "--eps0", "80", "--eps1", "40")
    assert missed["winding_number"] == 0 and abs(missed["pumped_charge"]) < 1e-4


def test_tables_are_readable(capsys):
    assert main(["theory", "hofstadter", "--p", "1", "--q", "4"]) == 0
    table = capsys.readouterr().out
    assert "2+3" in table and "sigma_xy: [-1, -, 1]" in table
    assert main(["theory", "rice-mele"]) == 0
    assert "winding_number: 1" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["rice-mele", "--Delta", "0"], "bands 1 and 2 touch"),
    (["aubry-andre", "--p", "2", "--q", "4"], "not in lowest terms"),
    (["hofstadter", "--q", "0"], "q must be a positive integer"),
    (["quantum-dot", "--asymmetry", "1.5"], "asymmetry must lie in"),
    (["quantum-dot", "--eps0", "0", "--asymmetry", "0"], "passes through the charge-degeneracy point"),
    (["superlattice", "--Vs", "6.25", "--Vl", "20"], "bands 2 and 3 closes"),
    (["superlattice", "--atom", "Cs133"], "unknown atom 'Cs133'"),
    (["superlattice", "--temperature-nK", "500"], "compute more bands (--n-bands)"),
    (["hofstadter", "--p", "one"], "invalid int value"),
])
def test_bad_parameters_one_line_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["theory", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0


def test_console_entry_point_subprocess():
    proc = subprocess.run([sys.executable, "-m", "atompump.cli", "theory", "aubry-andre", "--q", "4", "--json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["chern_numbers"] == [-1, 2, -1]
    bad = subprocess.run([sys.executable, "-m", "atompump.cli", "theory", "rice-mele", "--dJ", "nan"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "dJ must be finite" in bad.stderr
