"""Live analysis (`atompump watch`, issue 14 item 3): update time per shot, and live nu against the final nu.

A run is fed to :class:`atompump.live.LiveAnalysis` one shot at a time, as a lab takes it: its manifest grows by one
row (in acquisition order) and the watcher's update analyses the new shot, refits and writes the dashboard. Each
update's CPU time of this process is its time on one core (the machine may be shared: wall times are printed too).

Runs:

(a) a simulated run of 512 x 512 frames (the default config's Lohse-like run with 512 x 512 pixels of 0.5 um, a
    probe beam of 250 um waist, 3 repeats: 54 shots with the reference shots);
(b) the 23 real 512 x 512 shots of banik-ring-dev (``../shared/data/real``; a ring BEC with random cycle labels,
    0.401 um/px, I_sat 2410 counts), when present.

Printed per run: CPU time per update (median, mean over the run = the time per shot with the rebuilds of the fringe
basis and the template spread over the shots, max = an update that rebuilt them), the same for the dashboard, the
baseline (the batch analysis of the whole run, ``atompump.stages.run_analysis``: the workflow's stage functions, per
shot), and nu after the last live update against the batch analysis' nu. Targets: mean update time per shot
<= 2 s on one core (the watcher keeps up with a shot every 2 s); |nu_live - nu_final| <= 0.5 nu_err. ``ok`` only
when met.

    python benchmarks/live_update.py [--data ../shared/data/real] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from atompump.config import fill_defaults, load_schema
from atompump.live import LiveAnalysis, run_data_section, write_dashboard
from atompump.stages import run_analysis
from atompump.stages.simulate import simulate_stage
from atompump.stages.theory import theory_stage

TARGET_S = 2.0
AGREEMENT = 0.5  # |nu_live - nu_final| / nu_err


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def schema() -> dict:
    return load_schema(ROOT / "workflow/schemas/config.schema.yaml")


def live_run(name: str, rows: list[dict], config: dict, work: Path, theory: Path) -> dict:
    """Feed ``rows`` one by one through a growing manifest; time each update; compare with the batch analysis."""
    lab = work / f"{name}-lab"
    lab.mkdir(parents=True)
    (lab / "manifest.csv").write_text("")
    config = {**config, "data": run_data_section(lab, config["data"])}
    live = LiveAnalysis(config, work / f"{name}-live", theory_json=theory, settle_s=0.0, folder=lab)
    page_cpu, history = [], []
    for k in range(1, len(rows) + 1):
        with (lab / "manifest.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows[:k])
        if live.update():
            cpu = time.process_time()
            com, summary, fit = live.products()
            write_dashboard(work / f"{name}-live/dashboard.html", com, summary, fit, title=name,
                            status=live.state.message)
            page_cpu.append(time.process_time() - cpu)
            if summary.get("fit_possible"):
                history.append((k, summary["nu"], summary["nu_err"]))
    updates = np.array(live.state.update_cpu_seconds)
    walls = np.array(live.state.update_seconds)
    n_updates = updates.size
    # the shots before the first analysis (min_shots) are analysed by the first update: spread over all shots
    per_shot = (updates.sum() + np.sum(page_cpu)) / len(rows)
    nu_live, err_live = history[-1][1:] if history else (float("nan"), float("nan"))
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    final = run_analysis(config, work / f"{name}-batch", theory_json=theory)
    batch_cpu, batch_wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    live.finish()
    nu_final, err_final = final["nu"], final["nu_err"]
    agree = abs(nu_live - nu_final) / err_final
    print(f"  {len(rows)} shots, {n_updates} updates (basis and template built {live.state.generation - 1} times "
          "during the run)")
    print(f"  update (analysis + refit), CPU s: median {np.median(updates):.2f}, max {updates.max():.2f} "
          f"(wall: median {np.median(walls):.2f}, max {walls.max():.2f})")
    print(f"  dashboard page, CPU s: median {np.median(page_cpu):.2f}, max {np.max(page_cpu):.2f}")
    print(f"  per shot over the run (updates + pages, rebuilds included): {per_shot:.2f} s CPU   "
          f"target <= {TARGET_S:g} s   {verdict(per_shot <= TARGET_S)}")
    print(f"  baseline, batch analysis of the whole run: {batch_cpu / len(rows):.2f} s CPU per shot "
          f"({batch_wall:.0f} s wall in all); live / batch per shot: {per_shot / (batch_cpu / len(rows)):.1f}")
    print(f"  nu live (after the last shot) {nu_live:.4f} +- {err_live:.4f}; batch {nu_final:.4f} +- "
          f"{err_final:.4f}; |difference| = {agree:.2f} nu_err   target <= {AGREEMENT} nu_err   "
          f"{verdict(agree <= AGREEMENT)}")
    print(f"  final pass of the watcher: nu {live.summary['nu']:.4f} +- {live.summary['nu_err']:.4f} "
          f"({'identical to' if live.summary['nu'] == nu_final else 'DIFFERS from'} the batch analysis)")
    return {"shots": len(rows), "updates": n_updates, "update_cpu_median_s": float(np.median(updates)),
            "update_cpu_max_s": float(updates.max()), "page_cpu_median_s": float(np.median(page_cpu)),
            "per_shot_cpu_s": float(per_shot), "batch_cpu_per_shot_s": batch_cpu / len(rows),
            "nu_live": nu_live, "nu_live_err": err_live, "nu_final": nu_final, "nu_final_err": err_final,
            "difference_in_err": agree, "history": history}


def simulated(work: Path, repeats: int) -> tuple[list[dict], dict, Path]:
    config = fill_defaults({"simulation": {"image_shape": [512, 512], "repeats": repeats, "seed": 5,
                                           "probe": {"waist_um": 250.0}},
                            "data": {"on_bad_shot": "reject"}, "fit": {"n_bootstrap": 0}}, schema())
    run = work / "sim-run"
    simulate_stage(run, simulation=config["simulation"], imaging=config["imaging"], lattice=config["lattice"],
                   atom=config["atom"], pump=config["pump"])
    theory = work / "theory.json"
    theory_stage(theory, work / "bands.nc", work / "wannier.nc", lattice=config["lattice"], theory=config["theory"],
                 atom=config["atom"], pump=config["pump"])
    with (run / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row.update({k: str((run / row[k]).resolve()) for k in ("atoms", "probe", "dark")})
    rows.sort(key=lambda r: int(r["order"]))  # as they were taken
    return rows, config, theory


def banik(folder: Path, theory: Path) -> tuple[list[dict], dict]:
    ids = sorted(p.name[-9:-5] for p in folder.glob("Probe_*.tiff"))
    rng = np.random.default_rng(0)
    rows = [{"shot": i, "atoms": str(folder / f"Image_2020_11_24_{i}.tiff"),
             "probe": str(folder / f"Probe_2020_11_24_{i}.tiff"),
             "dark": str(folder / f"Background_2020_11_24_{i}.tiff"),
             "cycle": int(rng.integers(0, 5)), "direction": int(rng.choice([1, -1]))} for i in ids]
    config = fill_defaults({"imaging": {"pixel_size_um": 0.401, "isat_counts": 2410.0},
                            "data": {"on_bad_shot": "reject"}, "fit": {"n_bootstrap": 0}}, schema())
    return rows, config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/real",
                        help="folder with banik-ring-dev/")
    parser.add_argument("--repeats", type=int, default=3, help="simulation.repeats of the simulated run")
    parser.add_argument("--only", default="a,b", help="runs: a (simulated), b (banik-ring-dev)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    work = args.keep or Path(tempfile.mkdtemp(prefix="atompump-live-"))
    if args.keep:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
    results = {}
    try:
        rows, config, theory = simulated(work, args.repeats)
        if "a" in args.only:
            print("(a) simulated run, 512 x 512 frames, one shot per update")
            results["simulated"] = live_run("simulated", rows, config, work, theory)
        if "b" in args.only:
            folder = args.data / "banik-ring-dev"
            if not folder.is_dir():
                print(f"(b) banik-ring-dev: real data not found at {folder}: skipped; pass --data FOLDER")
            else:
                print("(b) banik-ring-dev: 23 real 512 x 512 shots (ring BEC, random cycle labels), one per update")
                rows, config = banik(folder, theory)
                results["banik-ring-dev"] = live_run("banik", rows, config, work, theory)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
