"""Benchmark (issue 5, point 7c): peak memory of every reduce/com job is flat in the number of shots.

Two runs of small frames (1,000 and 10,000 shots; 32x48 uint16 TIFF triplets, a cloud with photon noise) go through
the same jobs the workflow runs, each job in its own process (as Snakemake runs them): the run table, the ROI and
fringe basis, every per-batch reduction, the run-wide bad-shot check, every per-batch centre of mass, the gather.
Each process reports its peak resident memory (``resource.getrusage``, includes the interpreter and libraries) and
the peak of Python/numpy allocations (``tracemalloc``). Per-batch jobs of one kind run in one process, so their peak
is the largest batch's, and any growth from batch to batch would show.

Target: memory flat in shots (the per-shot tables grow by some bytes per shot; the images never accumulate).

    python benchmarks/memory_scaling.py [--small 1000] [--large 10000] [--batch-size 100] [--shape 32 48]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPE = (32, 48)
IMAGING = {"pixel_size_um": 1.0, "pump_axis": "x", "alpha": 1.0, "isat_counts": None, "min_probe_counts": 50,
           "saturation_counts": 65535, "cross_section_um2": 0.2907, "roi": None, "roi_sample_shots": 20,
           "fringe_removal": True, "fringe_max_frames": 100, "fringe_basis_size": None}
COM = {"window_margin": 0.5, "max_masked_fraction": 0.05, "min_atom_number": 10, "estimator": "auto",
       "profile_model": "gaussian", "atom_number_outlier_mads": 5.0, "template_shots": 200}
JOBS = ("shots", "fringe_basis", "reduce_batches", "check_reduce", "template", "com_batches", "gather_com")


def write_run(folder: Path, n: int, shape: tuple[int, int] = SHAPE) -> None:
    import numpy as np
    import tifffile

    from atompump.io import write_manifest
    from atompump.simulate.imaging import camera_counts, gaussian_column_density, transmitted_intensity

    rng = np.random.default_rng(5)
    cam = dict(rng=rng, gain=1.0, offset_counts=100.0, read_noise_counts=4.0)
    rows = []
    (folder / "frames").mkdir(parents=True)
    i_in = np.full(shape, 3000.0)
    # a cloud at the frame centre, 3 px RMS in the default 32 x 48 frames, growing with larger frames (same peak OD)
    sigma = max(3.0, shape[0] / 32)
    atoms = 800 * (sigma / 3.0) ** 2
    for i in range(n):
        od = 0.2907 * gaussian_column_density(shape, atom_number=atoms,
                                              centre_um=((shape[1] - 1) / 2 + 0.3 * rng.normal(), (shape[0] - 1) / 2),
                                              sigma_um=(sigma, sigma), pixel_size_um=1.0)
        row = {"shot": f"s{i:05d}"}
        for name, intensity in (("atoms", transmitted_intensity(i_in, od)), ("probe", i_in),
                                ("dark", np.zeros(shape))):
            tifffile.imwrite(folder / "frames" / f"s{i:05d}_{name}.tif", camera_counts(intensity, **cam))
            row[name] = f"frames/s{i:05d}_{name}.tif"
        rows.append({**row, "cycle": float(i % 5), "direction": 1 if i % 2 else -1})
    write_manifest(folder / "manifest.csv", rows)


def child(job: str, folder: Path, n: int, batch_size: int) -> dict:
    """Run one job (or all batches of a per-batch job) in this process and report its peak memory."""
    import resource
    import tracemalloc

    from atompump.stages import (
        check_reduce_stage,
        com_batch_stage,
        fringe_basis_stage,
        gather_com_stage,
        reduce_batch_stage,
        shots_stage,
        template_stage,
    )

    out = folder / "results"
    batches = range((n + batch_size - 1) // batch_size)
    tracemalloc.start()
    start = time.perf_counter()
    if job == "shots":
        shots_stage(out / "shots.nc", data={"manifest": str(folder / "manifest.csv")}, batch_size=batch_size)
    elif job == "fringe_basis":
        fringe_basis_stage(out / "shots.nc", out / "basis.nc", imaging=IMAGING)
    elif job == "reduce_batches":
        for b in batches:
            reduce_batch_stage(out / "shots.nc", out / "basis.nc", out / f"reduce-{b:04d}.nc", batch=b,
                               imaging=IMAGING)
    elif job == "check_reduce":
        check_reduce_stage([out / f"reduce-{b:04d}.nc" for b in batches], out / "check.json")
    elif job == "template":
        template_stage([out / f"reduce-{b:04d}.nc" for b in batches], out / "basis.nc", out / "template.nc",
                       com=COM)
    elif job == "com_batches":
        for b in batches:
            com_batch_stage(out / f"reduce-{b:04d}.nc", out / f"com-{b:04d}.nc", imaging=IMAGING, com=COM,
                            atom="Rb87", basis_path=out / "basis.nc", template_path=out / "template.nc")
    elif job == "gather_com":
        gather_com_stage([out / f"com-{b:04d}.nc" for b in batches], out / "com.nc", com=COM)
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1]
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rss_mb": rss_kib / 1024, "traced_mb": traced / 2**20, "seconds": seconds}


def measure(folder: Path, n: int, batch_size: int) -> dict[str, dict]:
    results = {}
    for job in JOBS:
        proc = subprocess.run([sys.executable, __file__, "--child", job, str(folder), str(n), str(batch_size)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"job {job} failed:\n{proc.stderr[-3000:]}")
        results[job] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--shape", type=int, nargs=2, default=list(SHAPE), metavar=("ROWS", "COLUMNS"),
                        help="frame size in pixels (default 32 48; e.g. 1024 1024 with --small 200 --large 1000)")
    parser.add_argument("--child", nargs=4, metavar=("JOB", "FOLDER", "N", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job, folder, n, batch = args.child
        print(json.dumps(child(job, Path(folder), int(n), int(batch))))
        return
    shape = tuple(args.shape)
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for n in (args.small, args.large):
            folder = Path(tmp) / f"run{n}"
            write_run(folder, n, shape)
            results[n] = measure(folder, n, args.batch_size)
        small, large = results[args.small], results[args.large]
        print(f"peak memory per job, {args.small} vs {args.large} shots of {shape[0]}x{shape[1]} pixels, "
              f"batches of {args.batch_size} (each job kind in its own process)")
        print(f"  {'job':16s} {'RSS (MB)':>20s} {'ratio':>6s} {'traced (MB)':>22s} {'ratio':>6s} {'time (s)':>16s}")
        worst = 0.0
        for job in JOBS:
            a, b = small[job], large[job]
            worst = max(worst, b["rss_mb"] / a["rss_mb"])
            print(f"  {job:16s} {a['rss_mb']:9.1f} {b['rss_mb']:9.1f} {b['rss_mb'] / a['rss_mb']:6.2f} "
                  f"{a['traced_mb']:10.2f} {b['traced_mb']:10.2f} {b['traced_mb'] / max(a['traced_mb'], 1e-9):6.2f} "
                  f"{a['seconds']:7.1f} {b['seconds']:7.1f}")
        print(f"  largest RSS ratio {worst:.2f} for {args.large // args.small}x the shots "
              f"(target: flat): {'met' if worst < 1.2 else 'MISSED'}")


if __name__ == "__main__":
    main()
