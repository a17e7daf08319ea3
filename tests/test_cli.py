"""The atompump command line."""

import json
import subprocess
import sys

import pytest

from atompump.cli import main


def test_theory_superlattice_json(capsys):
    assert main(["theory", "superlattice", "--Vs", "10", "--Vl", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chern_numbers"] == [1, -1, 1]
    assert out["energy_unit"] == "Er,s"
    assert out["displacement_per_cycle_dl"] == 1.0
    assert out["dl_um"] == pytest.approx(0.767)


def test_theory_table(capsys):
    assert main(["theory", "superlattice", "--Vs", "0", "--Vl", "20"]) == 0
    out = capsys.readouterr().out
    assert "+1" in out and "-1" not in out.split("displacement")[0]


def test_bad_parameter_is_one_line_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "atompump.cli", "theory", "superlattice", "--Vs", "-3"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "Vs_Er must be a finite depth >= 0" in proc.stderr


def test_version(capsys):
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip()
