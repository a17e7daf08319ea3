"""The fit stage: summary.json and fit.nc from com.nc and theory.json."""

import json

import numpy as np
import pytest
import xarray as xr

from atompump.fit import efficiency_displacement
from atompump.io.netcdf import read_dataset, write_dataset
from atompump.stages.fit import fit_stage

DL = 0.767


def write_inputs(tmp_path, *, x, cycle, direction, err, reference=None, theory_extra=None):
    n = x.size
    com = xr.Dataset(
        {"x_com_um": ("shot", x), "x_com_err_um": ("shot", err), "atom_number": ("shot", np.full(n, 3000.0)),
         "used": ("shot", np.ones(n, bool)), "reject_reason": ("shot", np.array([""] * n, dtype=object))},
        coords={"shot": [f"s{i:03d}" for i in range(n)], "cycle": ("shot", cycle), "direction": ("shot", direction),
                "reference": ("shot", np.zeros(n, bool) if reference is None else reference)})
    write_dataset(com, tmp_path / "com.nc")
    theory = {"chern_numbers": [1, -1, 1], "nu_theory": 1.0, "dl_um": DL, **(theory_extra or {})}
    (tmp_path / "theory.json").write_text(json.dumps(theory))


def run(tmp_path, **fit):
    return fit_stage(tmp_path / "com.nc", tmp_path / "theory.json", tmp_path / "summary.json", tmp_path / "fit.nc",
                     fit={"n_bootstrap": 200, **fit})


def test_summary_contract_and_theory_comparison(tmp_path):
    rng = np.random.default_rng(1)
    cycle = np.tile(np.repeat([0.0, 1, 2, 3], 2), 10)
    direction = np.tile([1.0, -1.0], 40)
    x = 20 + direction * 0.95 * DL * cycle + rng.normal(0, 0.02, cycle.size)
    write_inputs(tmp_path, x=x, cycle=cycle, direction=direction, err=np.full(cycle.size, 0.02),
                 theory_extra={"non_adiabatic": {"crossings": [{"probability_band_averaged": 0.02},
                                                               {"probability_band_averaged": 0.02}]}})
    s = run(tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(s))
    assert abs(s["nu"] - 0.95) < 3 * s["nu_err"]
    assert s["deviation_sigma"] == pytest.approx((s["nu"] - 1.0) / s["nu_err"])
    assert s["efficiency"] == pytest.approx(s["nu"]) and s["chern_number"] == 1
    assert s["beta_landau_zener"] == pytest.approx(0.98)
    assert {m["model"] for m in s["models"]} == {"linear", "linear_drift", "per_direction", "efficiency"}
    assert s["bootstrap"]["n_resamples"] == 200 and "direction" in s["differential"]
    fit = read_dataset(tmp_path / "fit.nc")
    np.testing.assert_allclose(fit.x_model_um + fit.residual_um, x)
    assert abs(np.std(fit.pull.values) - 1) < 0.2


def test_auto_model_picks_the_efficiency_model_for_curved_data(tmp_path):
    rng = np.random.default_rng(2)
    cycle = np.tile(np.repeat([0.0, 1, 2, 3, 4], 2), 8)
    direction = np.tile([1.0, -1.0], 40)
    x = 20 + direction * DL * efficiency_displacement(cycle, 0.96) + rng.normal(0, 0.01, cycle.size)
    write_inputs(tmp_path, x=x, cycle=cycle, direction=direction, err=np.full(cycle.size, 0.01))
    s = run(tmp_path, model="auto")
    assert s["fit_model"] == "efficiency" and s["fit_model_requested"] == "auto"
    assert s["headline"]["beta"] == pytest.approx(0.96, abs=3 * s["headline"]["beta_err"])


def test_scatter_above_the_errors_scales_them_and_the_report_says_so(tmp_path):
    """Per-shot errors half the true scatter: reduced chi^2 ~ 4; an excess scatter sqrt(0.04^2 - 0.02^2) is added
    to every error (with equal per-shot errors that is the Birge ratio exactly), the efficiency error is
    nu_err / |C|, the correlations of the fitted parameters are reported, and the report's summary box carries the
    note."""
    from atompump.stages.report import _notes

    rng = np.random.default_rng(5)
    cycle = np.tile(np.repeat([0.0, 1, 2, 3], 2), 50)
    direction = np.tile([1.0, -1.0], 200)
    x = 20 + direction * DL * cycle + rng.normal(0, 0.04, cycle.size)  # pumped from x0 = 20 um, C = 1
    write_inputs(tmp_path, x=x, cycle=cycle, direction=direction, err=np.full(cycle.size, 0.02),
                 theory_extra={"chern_numbers": [-1, 1, -1], "nu_theory": -1.0})
    s = run(tmp_path, n_bootstrap=0)
    assert s["reduced_chi2"] == pytest.approx(4.0, rel=0.2) and s["errors_scaled"]
    # the unscaled error of nu for this design: sigma / (dl * sqrt(sum of (direction * cycle - mean)^2))
    design = direction * cycle
    unscaled = 0.02 / (DL * np.sqrt(np.sum((design - design.mean()) ** 2)))
    assert s["nu_err"] == pytest.approx(unscaled * np.sqrt(s["reduced_chi2"]), rel=1e-3)
    assert s["chern_number"] == -1 and s["efficiency"] == pytest.approx(-s["nu"])
    assert s["efficiency_err"] == pytest.approx(s["nu_err"])
    assert s["deviation_sigma"] == pytest.approx((s["nu"] + 1.0) / s["nu_err"])
    # both directions and cycles balanced: x0 and nu are uncorrelated
    assert list(s["correlations"]) == ["nu/x0"] and abs(s["correlations"]["nu/x0"]) < 0.05
    assert s["headline"]["excess_scatter_um"] == pytest.approx(np.sqrt(0.04**2 - 0.02**2), rel=0.15)
    note = (f"(reduced chi^2 = {s['reduced_chi2']:.2f}): a shot-to-shot scatter of "
            f"{s['headline']['excess_scatter_um']:.3f} um (position jitter) is added in quadrature")
    assert any(note in text for text in _notes(s))
