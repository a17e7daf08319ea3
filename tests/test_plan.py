"""Run planning (issue 14, item 6): the planned run reaches the requested error on nu.

Pilot path: a synthetic pilot com table with a known per-shot scatter; the plan for each design is checked by
analysing many seeded synthetic runs of the planned size with the library's fits. Simulator path: the plan from the
simulator's camera and the Cramer-Rao bound, checked with runs of the planned size through the images chain of
atompump.calibration (frames, optical density, centre estimator, fit).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import xarray as xr

from atompump.cli import main
from atompump.fit import PumpData, fit_differential, fit_model
from atompump.fit.analyses import direction_differences, reference_differences
from atompump.plan import Scatter, design_error, pilot_scatter, plan_runs
from atompump.simulate.design import design_shots

DL = 0.767
SIGMA = 0.2  # um, per-shot scatter of the synthetic runs
NU = 0.97


def _run(*, repeats: int, references: bool, seed: int, cycles=(0, 1, 2, 3), sigma: float = SIGMA):
    """Centres of a synthetic run of the simulator's design (interleaved): pumped shots at x0 + d nu dl c, reference
    shots at x0, each with independent Gaussian scatter ``sigma``."""
    shots = design_shots(cycles=cycles, directions=(1, -1), repeats=repeats, references=references)
    rng = np.random.default_rng(seed)
    cycle = np.array([s["cycle"] for s in shots])
    direction = np.array([s["direction"] for s in shots])
    x = 30.0 + direction * NU * DL * cycle + rng.normal(0.0, sigma, cycle.size)
    return shots, cycle, direction, x


def _pilot_com(*, reject_every: int = 10) -> xr.Dataset:
    shots, cycle, direction, x = _run(repeats=16, references=True, seed=99)
    n = len(shots)
    used = np.arange(n) % reject_every != 3
    return xr.Dataset(
        {"x_com_um": ("shot", x), "x_com_err_um": ("shot", np.full(n, SIGMA)), "used": ("shot", used),
         "reject_reason": ("shot", np.where(used, "", "no cloud signal").astype(object)),
         "reject_cause": ("shot", np.where(used, "", "no_cloud").astype(object)),
         "atom_number": ("shot", np.full(n, 3000.0))},
        coords={"shot": [s["shot"] for s in shots], "cycle": ("shot", cycle), "direction": ("shot", direction),
                "order": ("shot", [s["order"] for s in shots]), "reference": ("shot", [s["reference"] for s in shots]),
                "sequence_cycles": ("shot", [s["sequence_cycles"] for s in shots])})


def _nu(design: str, *, repeats: int, seed: int) -> float:
    """nu of one synthetic run of ``repeats`` repeats, by the design's analysis (the library's fits)."""
    shots, cycle, direction, x = _run(repeats=repeats, references=design == "references", seed=seed)
    data = PumpData.from_arrays(cycle, direction, x, np.full(cycle.size, SIGMA),
                                order=[s["order"] for s in shots], reference=[s["reference"] for s in shots],
                                sequence=[s["sequence_cycles"] for s in shots])
    if design == "plain":
        return fit_model(data, "linear", dl_um=DL).nu
    pairing = reference_differences if design == "references" else direction_differences
    return fit_differential(*pairing(data), dl_um=DL, name=design).nu


def test_closed_form_errors_of_the_designs():
    scatter = Scatter(per_shot_um=0.3)
    # plain: u = d c over c = 0..4, d = +-1: S_uu = 2 * (0+1+4+9+16) = 60
    assert design_error("plain", scatter=scatter, cycles=range(5), directions=(1, -1), dl_um=DL) == \
        pytest.approx(0.3 / math.sqrt(60) / DL)
    # references: pairs at c = 1..4, both directions, difference scatter sqrt(2) s
    assert design_error("references", scatter=scatter, cycles=range(5), directions=(1, -1), dl_um=DL,
                        repeats=4) == pytest.approx(math.sqrt(2) * 0.3 / math.sqrt(4 * 60) / DL)
    # x(+) - x(-) = 2 nu dl c: var = 2 s^2 / (4 sum c^2)
    assert design_error("directions", scatter=scatter, cycles=range(5), directions=(1, -1), dl_um=DL) == \
        pytest.approx(math.sqrt(2) * 0.3 / (2 * math.sqrt(30)) / DL)
    rows = plan_runs(target_nu_err=0.01, scatter=Scatter(per_shot_um=0.3, used_fraction=0.8),
                     cycle_sets=[[0, 1, 2, 3, 4], [0]], directions=(1,), dl_um=DL)
    plain = rows[0]
    # one direction: u = c, S_uu = 10 -> var_1 = 0.09 / (10 dl^2); repeats = ceil(var_1 / 1e-4)
    assert plain["repeats"] == math.ceil(0.09 / 10 / DL**2 / 1e-4) == 153
    assert plain["repeats_to_take"] == math.ceil(153 / 0.8) and plain["shots"] == 5 * plain["repeats_to_take"]
    assert plain["nu_err"] <= 0.01
    assert rows[1]["repeats"] is None and "no lever arm" in rows[1]["note"]
    with pytest.raises(ValueError, match="target error on nu must be positive"):
        plan_runs(target_nu_err=0.0, scatter=scatter, cycle_sets=[[0, 1]], directions=(1,), dl_um=DL)


def test_pilot_plan_reaches_the_target_in_simulated_runs_of_the_planned_size():
    """The pilot's measured scatter gives the plan; 200 seeded runs of the planned size per design, analysed with
    the design's fit, scatter by the planned error within the statistical uncertainty of the check and of the
    pilot's scatter, and not above the target."""
    com = _pilot_com()
    scatter = pilot_scatter(com, dl_um=DL)
    n_pumped = int((com.used & ~com.reference).sum())
    assert scatter.used_fraction == pytest.approx(float(com.used.mean()))
    assert scatter.per_shot_um == pytest.approx(SIGMA, rel=3 / math.sqrt(2 * n_pumped))
    target = 0.02
    rows = plan_runs(target_nu_err=target, scatter=scatter, cycle_sets=[[0, 1, 2, 3]], directions=(1, -1), dl_um=DL)
    n_runs = 200
    for row in rows:
        assert row["nu_err"] <= target
        achieved = np.std([_nu(row["design"], repeats=row["repeats"], seed=1000 + r) for r in range(n_runs)],
                          ddof=1)
        # the check's own sampling error and the pilot's (the plan reports it)
        tolerance = 3 * math.hypot(1 / math.sqrt(2 * (n_runs - 1)), row["nu_err_relative_uncertainty"])
        assert 0 < row["nu_err_relative_uncertainty"] < 0.12
        assert achieved == pytest.approx(row["nu_err"], rel=tolerance), row
        assert achieved < target * (1 + tolerance), row
        # the plan is not wasteful: one repeat fewer would miss the target
        if row["repeats"] > 1:
            assert row["nu_err_one_repeat"] / math.sqrt(row["repeats"] - 1) > target


def test_plan_without_pilot_from_the_simulator_and_the_cramer_rao_bound(tmp_path, capsys):
    """No pilot: the per-shot error is the Cramer-Rao bound of the simulator's camera image. 30 seeded runs of the
    planned size (2 repeats) through frames, optical density, the profile-fit centre and the linear fit
    (atompump.calibration's images chain, same cloud and camera) scatter by the planned error."""
    from atompump.calibration import CalibrationRun, calibration_study

    config = tmp_path / "plan.yaml"
    config.write_text(
        "simulation: {atom_number: 300, cloud_sigma_um: [4.0, 4.0], position_jitter_um: 0.0, image_shape: [32, 64],\n"
        "  probe_counts: 3000, read_noise_counts: 4.0, camera_gain: 1.0, cycles: [0, 1, 2, 3, 4],\n"
        "  directions: [1, -1], optics: {psf: none}}\n"
        "imaging: {pixel_size_um: 1.0, cross_section_um2: 0.2907}\n")
    assert main(["plan", "--target", "1", "--config", str(config), "--design", "plain", "--json"]) == 0
    one_repeat = json.loads(capsys.readouterr().out)["plan"][0]["nu_err_one_repeat"]
    target = 0.8 * one_repeat  # two repeats needed
    assert main(["plan", "--target", str(target), "--config", str(config), "--design", "plain", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (row,) = result["plan"]
    assert "Cramer-Rao" in result["scatter"]["source"] and row["repeats"] == 2 and row["nu_err"] <= target
    assert 0.02 < result["scatter"]["per_shot_um"] < 0.3
    run = CalibrationRun(nu_true=NU, repeats=row["repeats"], atom_number=300.0, position_jitter_um=0.0,
                         cloud_sigma_um=(4.0, 4.0), image_shape=(32, 64), probe_counts=3000.0, read_noise_counts=4.0,
                         cross_section_um2=0.2907)
    n_runs = 30
    achieved = np.std([r["nu"] for r in calibration_study(run, n_runs=n_runs, seed=5)["runs"]], ddof=1)
    assert achieved == pytest.approx(row["nu_err"], rel=3 / math.sqrt(2 * (n_runs - 1)))
    assert main(["plan", "--target", "0.02", "--config", str(config), "--max-cycles", "2", "8"]) == 0
    table = capsys.readouterr().out
    assert "Cramer-Rao" in table and "0,1,2,3,4,5,6,7,8" in table and "differential_direction" in table


def test_plan_from_a_pilot_results_folder_and_a_missing_pilot(tmp_path, capsys):
    com = _pilot_com()
    (tmp_path / "results" / "com").mkdir(parents=True)
    com.to_netcdf(tmp_path / "results" / "com" / "com.nc", engine="h5netcdf")
    assert main(["plan", "--target", "0.05", "--pilot", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {r["design"] for r in result["plan"]} == {"plain", "references", "directions"}
    assert result["plan"][0]["cycles"] == [0.0, 1.0, 2.0, 3.0] and result["scatter"]["reference_pair_um"] > 0
    assert "nu" not in result["scatter"]  # a blinded pilot stays blind: the plan never shows its nu
    with pytest.raises(SystemExit):
        main(["plan", "--target", "0.05", "--pilot", str(tmp_path / "nowhere")])
    assert "no com.nc there" in capsys.readouterr().err
