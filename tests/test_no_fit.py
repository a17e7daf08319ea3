"""A run where too few shots pass (issue 11, item 7): the fit stage stops before fitting with a message (counts by
cause, the first shots of each, where to look), or, with data.on_bad_shot: reject, writes a summary that says no fit
was possible and the report is still written, listing every rejected shot."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import xarray as xr

from atompump._logging import run_stage
from atompump.config import config_section
from atompump.errors import AtompumpError, FitNotPossibleError
from atompump.fit import PumpData, headline_problem
from atompump.io.netcdf import read_dataset, write_dataset
from atompump.stages.fit import fit_stage

DL = 0.767

# shot index -> reason; the other shots (0 and 1) are used
REJECTED = {
    2: "cloud cut by the left edge of the camera frame", 3: "cloud cut by the left edge of the camera frame",
    4: "cloud cut by the left edge of the camera frame", 5: "cloud cut by the left edge of the camera frame",
    6: "cloud cut by the left edge of the camera frame", 7: "cloud cut by the left edge of the camera frame",
    8: "atom number 12 below com.min_atom_number = 100", 9: "atom number 7 below com.min_atom_number = 100",
    10: "camera saturated in the atoms frame: 100% of the region of interest at or above "
        "imaging.saturation_counts = 65535 (atoms frame run/s10_atoms.tif); lower the probe intensity",
}


CAUSES = {**dict.fromkeys(range(2, 8), "cloud_cut"), 8: "few_atoms", 9: "few_atoms", 10: "atoms_saturated"}


@pytest.fixture
def few_shots(tmp_path):
    """11 shots, 2 used (cycles 0 and 1), 9 rejected for three causes."""
    n = 11
    used = np.array([i not in REJECTED for i in range(n)])
    reasons = np.array([REJECTED.get(i, "") for i in range(n)], dtype=object)
    cycle = np.array([i % 4 for i in range(n)], dtype=float)
    com = xr.Dataset(
        {"x_com_um": ("shot", 20 + DL * cycle, {"units": "um"}), "x_com_err_um": ("shot", np.full(n, 0.02)),
         "atom_number": ("shot", np.full(n, 3000.0)), "used": ("shot", used), "reject_reason": ("shot", reasons),
         "reject_cause": ("shot", np.array([CAUSES.get(i, "") for i in range(n)], dtype=object))},
        coords={"shot": [f"s{i:02d}" for i in range(n)], "cycle": ("shot", cycle),
                "direction": ("shot", np.ones(n, int)), "reference": ("shot", np.zeros(n, bool))},
        attrs={"input": "frames"})
    write_dataset(com, tmp_path / "com.nc")
    (tmp_path / "theory.json").write_text(json.dumps({"chern_numbers": [1, -1, 1], "nu_theory": 1.0, "dl_um": DL}))
    return tmp_path


def run_fit(folder, **kwargs):
    return fit_stage(folder / "com.nc", folder / "theory.json", folder / "summary.json", folder / "fit.nc",
                     fit=config_section("fit", {"n_bootstrap": 0}), **kwargs)


EXPECTED_LINES = [
    "no fit possible (fit.model: linear): need at least 3 used pumped shots for the linear model, got 2.",
    "2 of 11 shots passed the quality cuts (2 pumped, 0 constant-phi reference); 9 rejected, by cause:",
    "  6 x cloud cut by the frame edge (cloud_cut): s02, s03, s04, s05, s06 and 1 more (shot s02: cloud cut by the left edge of the camera "
    "frame)",
    "  2 x atom number below com.min_atom_number (few_atoms): s08, s09 (shot s08: atom number 12 below com.min_atom_number = 100)",
    "  1 x camera saturated in the atoms frame (atoms_saturated): s10 (shot s10: camera saturated in the atoms frame: 100% of the "
    "region of interest at or above imaging.saturation_counts = 65535 (atoms frame run/s10_atoms.tif); lower the "
    "probe intensity)",
]


def test_too_few_shots_stop_before_the_fit_with_the_counts_by_cause(few_shots):
    with pytest.raises(FitNotPossibleError) as info:
        run_fit(few_shots)
    lines = str(info.value).splitlines()
    assert lines[:5] == EXPECTED_LINES
    assert lines[5].startswith(f"Where to look: {few_shots / 'com.nc'} (one row per shot: used, reject_reason")
    assert "the report's table of rejected shots (set data.on_bad_shot: reject to write the report" in lines[5]
    assert isinstance(info.value, AtompumpError)
    assert not (few_shots / "summary.json").exists() and not (few_shots / "fit.nc").exists()


def test_the_workflow_adapter_prints_the_message_without_a_traceback(few_shots, capsys):
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        with pytest.raises(SystemExit) as info:
            run_stage(str(few_shots / "fit.log"), fit_stage, few_shots / "com.nc", few_shots / "theory.json",
                      few_shots / "summary.json", few_shots / "fit.nc", fit=config_section("fit", {"n_bootstrap": 0}))
    finally:  # run_stage configured logging for a workflow job: give pytest its handlers back
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.captureWarnings(False)
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert EXPECTED_LINES[0] in err and EXPECTED_LINES[2] in err and "Traceback" not in err
    assert EXPECTED_LINES[3] in (few_shots / "fit.log").read_text()


def test_reject_writes_a_summary_that_says_no_fit_was_possible(few_shots):
    summary = run_fit(few_shots, on_bad_shot="reject")
    assert json.loads((few_shots / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["fit_possible"] is False
    assert summary["fit_message"].splitlines()[:5] == EXPECTED_LINES
    assert "set data.on_bad_shot" not in summary["fit_message"]
    for key in ("nu", "nu_err", "displacement_per_cycle_um", "displacement_per_cycle_err_um", "deviation_sigma",
                "reduced_chi2", "x0_um", "efficiency"):
        assert summary[key] is None, key
    assert (summary["n_shots"], summary["n_used"], summary["n_rejected"]) == (11, 2, 9)
    assert summary["rejected_by_cause"] == {"cloud_cut": 6, "few_atoms": 2, "atoms_saturated": 1}
    assert summary["dl_um"] == DL and summary["nu_theory"] == 1.0 and summary["input"] == "frames"
    fit = read_dataset(few_shots / "fit.nc")
    assert fit.sizes["shot"] == 11 and np.isnan(fit.x_model_um.values).all() and fit.attrs["fit_possible"] == 0


def test_the_report_without_a_fit_lists_every_rejected_shot(few_shots):
    """The report stages on a run without a fit: each figure that needs the fit is a "no fit possible" panel; the
    HTML says plainly that no fit was possible and lists every rejected shot with its reason."""
    from html import escape

    import matplotlib.pyplot as plt

    from atompump.report.catalog import FIGURES
    from atompump.stages.report import _pump_figures, report_stage

    summary = run_fit(few_shots, on_bad_shot="reject")
    com = read_dataset(few_shots / "com.nc")
    panels = _pump_figures(com=com, summary=summary, fit=read_dataset(few_shots / "fit.nc"))
    assert set(panels) == {"com_vs_cycle", "residuals", "models"}
    for fig in panels.values():
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert texts[0] == "no fit possible" and "need at least 3 used pumped shots" in texts[1]
    figures = few_shots / "figures"
    figures.mkdir()
    fig = plt.figure(figsize=(1, 1))
    for spec in FIGURES:
        fig.savefig(figures / f"{spec.name}.png")
    plt.close(fig)
    (few_shots / "provenance.json").write_text(json.dumps({"git_revision": "x"}))
    html = report_stage(few_shots / "report.html", summary_path=few_shots / "summary.json",
                        com_path=few_shots / "com.nc", figures_dir=figures,
                        provenance_path=few_shots / "provenance.json")
    assert "No fit was possible: 2 of 11 shots passed the quality cuts, too few for the linear fit." in html
    assert escape(EXPECTED_LINES[0]) in html and "Rejected shots (9)" in html
    for i, reason in REJECTED.items():
        assert f"<td>s{i:02d}</td><td>{CAUSES[i]}</td><td>{escape(reason)}</td>" in html
    assert "Models fitted to the same shots" not in html


@pytest.mark.parametrize("model, cycle, direction, reference, text", [
    ("linear", [0, 0, 0, 0], [1, -1, 1, -1], [0, 0, 0, 0],
     "all 4 used pumped shots have the same direction * cycle (0): the displacement per cycle is not constrained"),
    ("per_direction", [0, 1, 2, 3, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0],
     "the per_direction model needs shots of both pump directions"),
    ("differential_reference", [0, 1, 2, 3], [1, 1, 1, 1], [0, 0, 0, 0],
     "the pumped-minus-reference analysis needs both pumped and reference shots"),
    ("auto", [0, 1], [1, 1], [0, 0], "no model can be fitted: linear: need at least 3 used pumped shots for the "
                                     "linear model, got 2; linear_drift: need at least 4"),
    ("linear", [0, 1, 2], [1, -1, 1], [0, 0, 0], ""),
])
def test_what_each_fit_model_needs(model, cycle, direction, reference, text):
    n = len(cycle)
    data = PumpData.from_arrays(cycle, direction, np.zeros(n), np.ones(n), reference=np.array(reference, bool))
    problem = headline_problem(data, model)
    assert problem.startswith(text) if text else problem == ""
