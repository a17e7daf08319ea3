"""Trends (issue 14, item 4): centre, atom number and width against acquisition time and any per-shot global."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from atompump.errors import ConfigError, ParameterError
from atompump.report.catalog import TREND_CAPTION, trend_figures
from atompump.report.trends import acquisition_axis, global_axis, per_shot_names, trend_figure, unpumped_centre

DL = 0.767


def _com(n: int = 24, *, nu: float = 0.93, drift_um_per_shot: float = 0.01, seed: int = 3, **coords) -> xr.Dataset:
    """A com.nc-like table: interleaved cycles 0..3, both directions, a linear drift in acquisition order."""
    rng = np.random.default_rng(seed)
    order = np.arange(n)
    cycle = np.tile(np.repeat([0.0, 1.0, 2.0, 3.0], 2), n // 8 + 1)[:n]
    direction = np.tile([1, -1], n // 2)
    x = 40.0 + direction * nu * DL * cycle + drift_um_per_shot * order
    return xr.Dataset(
        {"x_com_um": ("shot", x, {"units": "um"}), "x_com_err_um": ("shot", np.full(n, 0.05)),
         "atom_number": ("shot", 3000 + 10 * rng.normal(size=n)), "width_um": ("shot", 6 + 0.01 * order),
         "used": ("shot", np.ones(n, bool)), "reject_reason": ("shot", np.array([""] * n, dtype=object))},
        coords={"shot": [f"s{i:05d}" for i in range(n)], "cycle": ("shot", cycle), "direction": ("shot", direction),
                "order": ("shot", order), **{k: ("shot", v) for k, v in coords.items()}})


def test_acquisition_axis_reads_labscript_run_time_else_order_else_position():
    stamps = np.array([f"20261203T17{m:02d}{s:02d}" for m, s in zip(range(10, 34), [0, 30] * 12)])
    axis = acquisition_axis(_com(run_time=stamps))
    assert axis.name == "time" and "min since the first shot" in axis.label
    np.testing.assert_allclose(axis.values, np.arange(24) + np.tile([0.0, 0.5], 12))  # minutes
    assert "acquisition order" in acquisition_axis(_com()).label
    np.testing.assert_array_equal(acquisition_axis(_com()).values, np.arange(24))
    no_order = _com().drop_vars("order")
    assert "position in the run" in acquisition_axis(no_order).label


def test_global_axis_numbers_categories_and_missing_values():
    detuning = np.linspace(-10, 10, 24)
    detuning[5] = np.nan  # a null labscript global
    com = _com(probe_detuning=detuning, camera=np.array(["a", "b"] * 12, dtype=object))
    com["probe_detuning"].attrs["units"] = "MHz"
    axis = global_axis(com, "probe_detuning")
    assert axis.label == "probe_detuning (MHz)" and np.isnan(axis.values[5])
    np.testing.assert_array_equal(axis.values[:5], detuning[:5])
    cat = global_axis(com, "camera")
    assert cat.ticks == ("a", "b") and list(cat.values[:4]) == [0.0, 1.0, 0.0, 1.0]
    fig = trend_figure(com, axis, centre_um=com.x_com_um.values, centre_label="x")
    assert "1 shot without a value not shown" in fig.axes[0].get_title()
    assert len(fig.axes) == 3  # centre, atom number, width
    # labscript globals reach com.nc as global_<name> (atompump.io.shots): named with or without the prefix
    run = _com(global_tof=np.arange(24.0))
    assert global_axis(run, "tof").name == "global_tof" and global_axis(run, "global_tof").values[3] == 3.0


def test_a_global_com_nc_does_not_have_names_itself_and_the_available_ones():
    com = _com(probe_detuning=np.zeros(24))
    with pytest.raises(ParameterError, match=r"^'tof' is not a per-shot global of run/com.nc; available: cycle, "
                                             r"direction, order, probe_detuning, x_com_um, .*\. Name one of these, or "
                                             r"remove it from name$"):
        global_axis(com, "tof", source="run/com.nc")
    # the report stage (the configuration boundary) names the config key
    from atompump.stages.report import draw_trend_figures

    with pytest.raises(ConfigError, match=r"^config key 'report.trend_globals': 'tof' is not a per-shot global of "
                                          r"run/com.nc; .* or remove it from report.trend_globals$"):
        draw_trend_figures(com=com, summary=None, fit=None, trend_globals=("probe_detuning", "tof"),
                           com_path="run/com.nc")
    assert per_shot_names(com)[:4] == ["cycle", "direction", "order", "probe_detuning"]


def test_unpumped_centre_leaves_the_drift_and_does_not_depend_on_nu():
    """x - direction nu dl cycle - x0 is the drift alone; with centres and nu shifted by the same blinding offset
    it is the same array (the trend figures reveal nothing of nu)."""
    com = _com(nu=0.93, drift_um_per_shot=0.01)
    centre, label = unpumped_centre(com, x_um=com.x_com_um.values, nu=0.93, dl_um=DL, x0_um=40.0)
    np.testing.assert_allclose(centre, 0.01 * np.arange(24), atol=1e-12)
    offset = 0.137
    blinded = com.x_com_um.values + com.direction.values * offset * DL * com.cycle.values
    again, _ = unpumped_centre(com, x_um=blinded, nu=0.93 + offset, dl_um=DL, x0_um=40.0)
    np.testing.assert_allclose(again, centre, atol=1e-12)
    raw, raw_label = unpumped_centre(com, x_um=com.x_com_um.values, nu=None, dl_um=DL, x0_um=None)
    assert raw_label == "centre of mass (um)" and raw[0] == com.x_com_um.values[0]


def test_trend_specs_and_caption_file(repo_root):
    specs = trend_figures(["probe_detuning", "tof"])
    assert [s.name for s in specs] == ["trend_probe_detuning", "trend_tof"]
    for name in ("trends", "trend_time"):
        assert (repo_root / "workflow" / "report" / f"{name}.rst").read_text().strip() == TREND_CAPTION


def test_workflow_draws_a_trend_figure_per_named_global_into_both_reports(repo_root, tmp_path):
    """Snakemake's plan (dry run) with report.trend_globals: the figures rule makes trend_<name>.png/.pdf (and
    trend_time), the HTML report takes them as inputs, and Snakemake's own report gets them (report(...))."""
    import subprocess
    import sys

    import yaml

    config = tmp_path / "trends.yaml"
    config.write_text(yaml.safe_dump({"report": {"trend_globals": ["probe_detuning", "repeat"]}}))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo_root / "Snakefile"), "-d",
                           str(tmp_path / "run"), "--configfile", str(config), "-n"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = {block.split(":", 1)[0]: block for block in (proc.stdout + proc.stderr).split("\nrule ")[1:]}
    figures = jobs["figures"].split("output:")[1].split("\n")[0]
    report_inputs = jobs["report"].split("input:")[1].split("\n")[0]
    for name in ("trend_time", "trend_probe_detuning", "trend_repeat"):
        assert f"results/figures/{name}.png" in figures and f"results/figures/{name}.pdf" in figures, name
        assert f"results/figures/{name}.png" in report_inputs, name
    rules = (repo_root / "workflow/rules/report.smk").read_text()
    assert 'caption="../report/trends.rst"' in rules  # Snakemake's own report gets them too
