"""Live analysis (`atompump watch`, issue 14 item 3): the dashboard page, the shots a watcher takes, the live
analysis of a run growing shot by shot (manifest rows, labscript files), its stop conditions.

The agreement of the final pass with a real `snakemake` run is in tests/test_workflow.py
(test_live_watch_agrees_with_the_workflow); the browser check is tools/dashboard-check.sh.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from atompump.cli import main
from atompump.config import fill_defaults, load_schema
from atompump.errors import InputDataError
from atompump.live import LiveAnalysis, render_dashboard, run_data_section, watch_run
from atompump.stages.simulate import simulate_stage
from atompump.stages.theory import theory_stage

SMALL = {  # a small simulated run: a rigid cloud moving nu_true = 0.96 dl per cycle, 24 shots of 32 x 64 pixels
    "simulation": {"cycles": [0, 1, 2, 3], "repeats": 3, "image_shape": [32, 64], "position_jitter_um": 0.1,
                   "cloud_sigma_um": [4.0, 4.0], "dynamics": "rigid", "references": False, "order": "interleaved"},
    "imaging": {"pixel_size_um": 1.0},
    "theory": {"n_k": 12, "n_phi": 24},
    "fit": {"n_bootstrap": 0},
}


# --- the page ----------------------------------------------------------------------------------------------------

def _products(n: int = 12, *, rejected: dict[int, str] | None = None, nu: float = 0.9631, nu_err: float = 0.0145):
    rng = np.random.default_rng(3)
    cycle = np.tile([0.0, 1.0, 2.0, 3.0], n // 4 + 1)[:n]
    direction = np.where(np.arange(n) % 2 == 0, 1, -1)
    x = 60.0 + direction * nu * 0.767 * cycle + rng.normal(0, 0.05, n)
    reasons = np.array([(rejected or {}).get(i, "") for i in range(n)], dtype=object)
    com = xr.Dataset(
        {"x_com_um": ("shot", x), "x_com_err_um": ("shot", np.full(n, 0.05)),
         "atom_number": ("shot", rng.normal(3000, 100, n)), "width_um": ("shot", rng.normal(4.0, 0.05, n)),
         "used": ("shot", reasons == ""), "reject_reason": ("shot", reasons),
         "reject_cause": ("shot", np.where(reasons == "", "", "no_cloud").astype(object))},
        coords={"shot": ("shot", np.array([f"s{i:03d}" for i in range(n)], dtype=object)),
                "cycle": ("shot", cycle), "direction": ("shot", direction), "order": ("shot", np.arange(n)),
                "reference": ("shot", np.zeros(n, bool))},
        attrs={"estimator": "fit", "estimator_reason": "smallest median error"})
    fit = xr.Dataset({"x_model_um": ("shot", np.where(reasons == "", 60.0 + direction * nu * 0.767 * cycle,
                                                      np.nan))})
    summary = {"nu": nu, "nu_err": nu_err, "fit_possible": True, "n_shots": n, "n_used": int((reasons == "").sum()),
               "displacement_per_cycle_um": nu * 0.767, "displacement_per_cycle_err_um": nu_err * 0.767,
               "dl_um": 0.767, "chern_number": 1, "nu_theory": 1.0, "deviation_sigma": (nu - 1) / nu_err,
               "reduced_chi2": 1.1, "errors_scaled": True}
    return com, summary, fit


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace("&plusmn;", "+-")


def test_live_page_shows_nu_figures_and_rejected_shots_and_reloads_itself():
    com, summary, fit = _products(12, rejected={3: "no cloud signal: integrated OD < 3 sigma", 9: "a <b> & c"})
    page = render_dashboard(com, summary, fit, title="Run 7", status="live: 12 shots analysed", refresh_s=4)
    assert '<meta http-equiv="refresh" content="4">' in page  # the browser reloads it; no script, no server
    assert "<script" not in page and "http://" not in page and "https://" not in page
    text = _text(page)
    assert "LIVE Run 7" in text and "live: 12 shots analysed" in text
    assert "0.9631 +- 0.0145" in text  # nu and its error, 4 decimals
    assert "0.739 +- 0.011 um" in text  # the displacement per cycle, nu * dl
    assert "C = 1, nu = 1.000" in text and "-2.5 sigma" in text and "10 / 12" in text
    # rejected shots, the most recent first, with their reasons (escaped: a reason is text, never markup)
    assert "Rejected shots (2)" in text
    assert text.index("s009") < text.index("s003")
    assert "a &lt;b&gt; &amp; c" in page and "a <b> & c" not in page
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # three panels drawn, not an empty canvas


def test_dashboard_figure_axes_have_units_and_colour_blind_safe_colours():
    from matplotlib.colors import to_hex

    from atompump.live.dashboard import dashboard_figure
    from atompump.report.figures import PALETTE

    com, summary, fit = _products(12, rejected={5: "no cloud signal"})
    com["reference"] = ("shot", np.arange(12) == 4)
    fig = dashboard_figure(com, fit, summary)
    labels = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
    assert labels == [("pump cycles", "centre of mass, fit estimator (um)"),
                      ("shot number (acquisition order)", "atom number"),
                      ("shot number (acquisition order)", "RMS width along the pump axis (um)")]
    palette = {v.lower() for v in PALETTE.values()}
    for ax in fig.axes:
        colours = {to_hex(line.get_color()) for line in ax.get_lines()}
        for collection in ax.collections:
            colours |= {to_hex(c) for c in collection.get_edgecolor()}
        assert colours <= palette, colours - palette
    # the fit line of each direction goes through the model: slope direction * nu * dl per cycle
    lines = [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "-" and len(line.get_xdata()) > 1]
    slopes = sorted(float(np.polyfit(line.get_xdata(), line.get_ydata(), 1)[0]) for line in lines)
    np.testing.assert_allclose(slopes, [-0.9631 * 0.767, 0.9631 * 0.767], rtol=1e-9)


def test_final_page_stops_reloading_and_long_reject_lists_are_cut():
    com, summary, fit = _products(40, rejected={i: f"reason {i}" for i in range(0, 40, 2)})
    page = render_dashboard(com, summary, fit, title="Run", status="final", final=True, max_rejected_rows=5)
    assert "http-equiv" not in page and "FINAL" in page
    text = _text(page)
    assert "Rejected shots (20)" in text and "... and 15 more." in text
    assert "reason 38" in text and "reason 0 " not in text


def test_page_before_the_first_shot_and_without_a_fit():
    page = render_dashboard(None, None, None, title="Run", status="waiting for 5 shots before the first analysis")
    assert "http-equiv=\"refresh\"" in page and "No shot analysed yet" in page
    com, summary, fit = _products(4)
    summary = {**summary, "fit_possible": False, "fit_message": "only 1 used shot: the linear fit needs 3",
               "nu": None, "nu_err": None}
    text = _text(render_dashboard(com, summary, fit, title="Run", status="live"))
    assert "No fit yet: only 1 used shot" in text and "nu (displacement" not in text


# --- which shots a watcher takes -----------------------------------------------------------------------------------

def test_the_watched_folder_gives_the_manifest_or_the_labscript_files(tmp_path):
    assert run_data_section(tmp_path, {})["shots"] == str(tmp_path / "**" / "*.h5")
    (tmp_path / "manifest.csv").write_text("shot,atoms,probe,dark,cycle,direction\n")
    data = run_data_section(tmp_path, {"batch_size": 8})
    assert data["manifest"] == str(tmp_path / "manifest.csv") and data["shots"] is None and data["batch_size"] == 8
    assert run_data_section(tmp_path / "manifest.csv", {})["manifest"] == str(tmp_path / "manifest.csv")
    with pytest.raises(InputDataError, match="no-such-run: no such folder"):
        run_data_section(tmp_path / "no-such-run", {})


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, repo_root):
    """A small simulated run (manifest.csv + TIFFs, truth.json), its config and a theory.json."""
    root = tmp_path_factory.mktemp("watch")
    config = fill_defaults(SMALL, load_schema(repo_root / "workflow/schemas/config.schema.yaml"))
    simulate_stage(root / "run", simulation=config["simulation"], imaging=config["imaging"],
                   lattice=config["lattice"], atom=config["atom"], pump=config["pump"])
    theory_stage(root / "theory.json", root / "bands.nc", root / "wannier.nc", lattice=config["lattice"],
                 theory=config["theory"], atom=config["atom"], pump=config["pump"])
    with (root / "run/manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    old = time.time() - 3600  # frames written long ago (a watcher waits for files to settle)
    for row in rows:  # absolute frame paths: the growing manifest below lives elsewhere
        row.update({k: str((root / "run" / row[k]).resolve()) for k in ("atoms", "probe", "dark")})
        for name in ("atoms", "probe", "dark"):
            os.utime(row[name], (old, old))
    return root, config, rows


def _config_for(folder: Path, config: dict) -> dict:
    return {**config, "data": run_data_section(folder, config["data"])}


def test_a_shot_still_being_written_waits_until_its_files_settle(small_run, tmp_path):
    _, config, rows = small_run
    lab = tmp_path / "lab"
    lab.mkdir()
    fresh = dict(rows[1], atoms=str(lab / "atoms.tif"))
    shutil.copy(rows[1]["atoms"], fresh["atoms"])  # written just now
    _write_manifest(lab / "manifest.csv", [rows[0], fresh])
    live = LiveAnalysis(_config_for(lab, config), tmp_path / "live", settle_s=30.0, folder=lab)
    assert [r.shot for r in live.pending()] == [rows[0]["shot"]]
    assert [r.shot for r in live.pending(force=True)] == [rows[0]["shot"], rows[1]["shot"]]
    old = time.time() - 60
    os.utime(fresh["atoms"], (old, old))
    assert len(live.pending()) == 2


def _write_manifest(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# --- a run growing shot by shot ----------------------------------------------------------------------------------

def test_growing_manifest_is_analysed_as_it_lands_and_the_live_nu_agrees_with_the_final_pass(small_run, tmp_path):
    root, config, rows = small_run
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "manifest.csv").write_text("")  # the run's manifest, before its first row
    live = LiveAnalysis(_config_for(lab, config), tmp_path / "live", theory_json=root / "theory.json",
                        settle_s=0.0, min_shots=5, folder=lab)
    assert not live.update() and live.summary is None
    landed, nus = 0, []
    for size in (3, 2, 5, 14):  # rows appended as shots land: 3, 5, 10, 24 shots
        landed += size
        _write_manifest(lab / "manifest.csv", rows[:landed])
        changed = live.update()
        if landed < 5:  # the region of interest, basis and template need a few shots
            assert not changed and "waiting for 5 shots" in live.state.message and live.summary is None
            continue
        assert changed and live.state.n_analysed == landed
        com, _, _ = live.products()
        assert [str(s) for s in com.shot.values] == [r["shot"] for r in rows[:landed]]  # run order
        assert {"x_com_um", "atom_number", "width_um", "used", "reject_reason"} <= set(com.variables)
        # the cloud's RMS width along the pump axis: 4 um simulated (the imaging PSF adds little), 3000 atoms
        assert abs(np.median(com.width_um.values) - 4.0) < 0.4
        assert abs(np.median(com.atom_number.values) / 3000 - 1) < 0.1
        nus.append((live.summary["nu"], live.summary["nu_err"]))
    # basis and template rebuilt as the run doubles (5, 10, 24 >= 2 x 10), not at every shot
    assert live.state.generation == 3 and live.state.basis_shots == 24
    assert not live.update()  # nothing new
    truth = json.loads((root / "run/truth.json").read_text())["nu_true"]
    nu_live, err_live = nus[-1]
    assert abs(nu_live - truth) < 3 * err_live and err_live < 0.05
    assert live.finish() and live.state.final
    nu_final = live.summary["nu"]
    # the same shots, partly analysed with a basis and template of fewer shots: well inside the error
    assert abs(nu_live - nu_final) < 0.5 * live.summary["nu_err"]
    assert live.summary["n_used"] == 24


def test_labscript_files_appearing_are_analysed(small_run, tmp_path):
    import h5py
    import tifffile

    root, config, rows = small_run
    config = {**config, "data": {**config["data"], "frames": {**config["data"]["frames"], "orientation": "side",
                                                              "label": "absorption"}}}
    lab = tmp_path / "shots"
    lab.mkdir()

    def land(row):  # as BLACS saves a shot: the images under /images, the globals on /globals
        with h5py.File(lab / f"{row['shot']}.h5", "w") as h5:
            group = h5.create_group("/images/side/absorption")
            for name in ("atoms", "probe", "dark"):
                group.create_dataset(name, data=tifffile.imread(row[name]))
            h5.create_group("globals").attrs.update({"cycle": float(row["cycle"]),
                                                     "direction": int(row["direction"])})

    live = LiveAnalysis(_config_for(lab, config), tmp_path / "live", theory_json=root / "theory.json",
                        settle_s=0.0, min_shots=5, folder=lab)
    for row in rows[:6]:
        land(row)
    assert live.update() and live.state.n_analysed == 6
    for row in rows[6:12]:
        land(row)
    assert live.update() and live.state.n_analysed == 12
    truth = json.loads((root / "run/truth.json").read_text())["nu_true"]
    assert abs(live.summary["nu"] - truth) < 3 * live.summary["nu_err"] and live.summary["n_used"] == 12


# --- stop conditions ---------------------------------------------------------------------------------------------

def test_ctrl_c_leaves_the_page_intact_and_says_so(small_run, tmp_path):
    _, config, _ = small_run
    lab = tmp_path / "lab"
    lab.mkdir()

    def interrupt(seconds):
        raise KeyboardInterrupt

    live = watch_run(_config_for(lab, config), tmp_path / "live", folder=lab, sleep=interrupt)
    page = (tmp_path / "live/dashboard.html").read_text()
    assert page.rstrip().endswith("</html>") and "stopped (Ctrl-C)" in page and live.summary is None
    assert "http-equiv" not in page  # a stopped watcher's page does not pretend to be live


def test_idle_timeout_ends_the_watch_with_the_final_pass(small_run, tmp_path):
    root, config, rows = small_run
    lab = tmp_path / "lab"
    lab.mkdir()
    _write_manifest(lab / "manifest.csv", rows[:6])
    live = watch_run(_config_for(lab, config), tmp_path / "live", folder=lab, idle_timeout_s=0.0, poll_s=0.0,
                     theory_json=root / "theory.json", settle_s=0.0)
    assert live.state.final and live.state.n_analysed == 6 and live.summary["n_shots"] == 6
    text = _text((tmp_path / "live/dashboard.html").read_text())
    assert "FINAL" in text and f"{live.summary['nu']:.4f} +- {live.summary['nu_err']:.4f}" in text


def test_cli_names_a_missing_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["watch", str(tmp_path / "nowhere"), "--once", "--out", str(tmp_path / "live")])
    assert stop.value.code == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_a_run_that_cannot_be_analysed_yet_is_reported_and_retried_only_with_new_shots(small_run, tmp_path):
    _, config, rows = small_run
    lab = tmp_path / "lab"
    lab.mkdir()
    broken = []
    for row in rows[:3]:  # frames that are not images (a camera writing garbage): no shot of the run can be read
        fixed = dict(row)
        for name in ("atoms", "probe", "dark"):
            fixed[name] = str(lab / f"{row['shot']}_{name}.tif")
            Path(fixed[name]).write_bytes(b"not a TIFF")
            os.utime(fixed[name], (time.time() - 60, time.time() - 60))
        broken.append(fixed)
    _write_manifest(lab / "manifest.csv", broken)
    live = LiveAnalysis(_config_for(lab, config), tmp_path / "live", settle_s=0.0, min_shots=3, folder=lab)
    assert not live.update()
    assert live.state.message.startswith("cannot analyse the 3 shots so far:")
    assert "waiting for more shots" in live.state.message and live.summary is None
    calls = []
    live._build = lambda *a, **k: calls.append(a)  # a retry would rebuild
    assert not live.update() and not calls  # the same shots: not tried again until more land


def test_per_direction_fit_without_covariance_is_skipped_not_a_crash():
    """Early in a live run one direction may have no pumped cycle yet: the per-direction model has no covariance,
    and the fit skips it (ValueError, as for any model without an error estimate) instead of a TypeError."""
    from atompump.fit.analyses import PumpData, fit_model

    data = PumpData.from_arrays(np.array([0, 1, 2, 3, 0, 0.0]), np.array([1, 1, 1, 1, -1, -1]),
                                np.array([0, 0.77, 1.5, 2.3, 0.01, -0.01]), np.full(6, 0.05))
    with pytest.raises(ValueError, match="per_direction fit gave no error estimate"):
        fit_model(data, "per_direction", dl_um=0.767)
