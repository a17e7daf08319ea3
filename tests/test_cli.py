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


def test_installed_console_script_runs_the_theory_command():
    """The `atompump` console script that `pip install` puts next to the interpreter (pyproject [project.scripts])."""
    from pathlib import Path

    script = Path(sys.executable).parent / "atompump"
    assert script.is_file(), f"{script} missing: install the package (pip install -e '.[test]')"
    proc = subprocess.run([str(script), "theory", "rice-mele", "--J", "1", "--dJ", "0.5", "--Delta", "0.5", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["chern_numbers"] == [1, -1]  # physics.md sign, cross-checked against PythTB in the theory tests
    # a reader that stops early (| head) is not an error
    head = subprocess.run(f"'{script}' theory rice-mele --json | head -1", shell=True, capture_output=True,
                          text=True, timeout=120)
    assert head.stdout == "{\n" and "Traceback" not in head.stderr
