"""Validation on real camera data (issue 11): the analysis on the real sets of ``../shared/data/real``.

Prints, per dataset and run: shots used, nu and its error, and for injected runs the per-shot RMS error and pull
standard deviation against the injected truth and each estimator's efficiency, each against its target (``met`` /
``MISSED``). The analysis runs through the library (``atompump.stages.run_analysis``: the workflow's stage
functions in one process), not Snakemake, so that 40+ runs take minutes.

(a) banik-ring-dev: all 23 real shots of a static ring BEC with random cycle labels 0-4 and random directions
    (seeded). Targets: 23/23 measured; nu consistent with 0 (|nu| <= 3 nu_err) with nu_err < 0.1.
(b) Injection runs built from banik-ring-dev's probe and dark frames (0.401 um/px, I_sat 2410 counts; split mode:
    12 atoms-sources, 11 probe-sources, 10 shots per run = cycles 0-4 x both directions, no frame reused), 20 seeds
    each, (i) a Gaussian cloud 8 um x 4 um RMS (along x across), peak OD 1, and (ii) the oqtant-insitu shape
    ShortOnlyExpt_rep_0 (an elongated BEC with density lumps, its own OD), moving 0.96 dl per cycle with 0.25 um
    shot-to-shot jitter. The camera's gain and read noise are measured once from the source run (photon transfer)
    and printed. Targets, pooled over the 20 seeds: >= 95 % of the shots measured; per-shot RMS error <= 0.05 um
    and pull std 0.8-1.25 for the default estimator (every estimator printed); over the 20 seeds, the nu pulls
    (nu - nu_true) / nu_err with mean within +-0.3 and std 0.8-1.25. A run whose fit fails counts as measured
    shots only.
(c) oqtant-insitu as optical-density input (a manifest ``od`` column), when the installed atompump supports it:
    11 shots with random labels, shots used and nu (consistent with 0). Otherwise: "skipped: OD input not
    available".

    python benchmarks/real_data.py [--data ../shared/data/real] [--seeds 20] [--only a,b,c] [--json out.json]

The data are read-only and not part of the repository; without them the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from atompump.errors import AtompumpError, InputDataError  # noqa: E402
from atompump.inject import (  # noqa: E402
    GaussianCloud,
    inject_run,
    load_od_image_cloud,
    measure_camera_noise,
)
from atompump.io import read_dataset, write_manifest  # noqa: E402
from atompump.io.formats import open_image  # noqa: E402
from atompump.recovery import measured_residuals, residual_statistics  # noqa: E402
from atompump.stages import run_analysis  # noqa: E402
from atompump.stages.inject import injection_params_from_config  # noqa: E402

PIXEL, ISAT = 0.401, 2410.0  # banik-ring-dev (its README)
OQTANT_PIXEL = 0.344
OQTANT_SHAPE = "ShortOnlyExpt_rep_0"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def base_config(pixel: float, isat: float | None) -> dict:
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config["imaging"].update(pixel_size_um=pixel, isat_counts=isat)
    config["data"].update(on_bad_shot="reject", batch_size=64)
    config["fit"]["n_bootstrap"] = 0
    return config


def analyse(config: dict, manifest: Path, work: Path, theory: Path) -> tuple[dict | None, str]:
    """run_analysis; the summary (None when the fit failed) and the failure's message."""
    try:
        return run_analysis(config, work, manifest=manifest, theory_json=theory), ""
    except (AtompumpError, ValueError) as exc:
        return None, str(exc).splitlines()[0]


def banik_rows(folder: Path) -> list[dict]:
    ids = sorted(p.name[-9:-5] for p in folder.glob("Probe_*.tiff"))
    return [{"shot": i, "atoms": str(folder / f"Image_2020_11_24_{i}.tiff"),
             "probe": str(folder / f"Probe_2020_11_24_{i}.tiff"),
             "dark": str(folder / f"Background_2020_11_24_{i}.tiff")} for i in ids]


def random_labels(rows: list[dict], seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cycles = rng.integers(0, 5, len(rows))
    directions = rng.choice([1, -1], len(rows))
    return [{**row, "cycle": int(c), "direction": int(d)} for row, c, d in zip(rows, cycles, directions)]


def static_run(name: str, manifest: Path, config: dict, work: Path, theory: Path, n: int) -> dict:
    """A run of a static cloud with made-up labels: shots used, nu consistent with 0."""
    summary, failure = analyse(config, manifest, work, theory)
    com = read_dataset(work / "com.nc")
    used = int(com.used.values.sum())
    print(f"  {name}: {used}/{n} shots measured   target {n}/{n}   {verdict(used == n)}")
    reasons = sorted({str(r) for r in com.reject_reason.values if str(r)})
    for reason in reasons[:4]:
        print(f"    rejected: {reason} ({sum(str(r) == reason for r in com.reject_reason.values)} shots)")
    if summary is None:
        print(f"    nu: no fit ({failure})   target |nu| <= 3 nu_err, nu_err < 0.1   MISSED")
        return {"used": used, "n": n, "nu": None, "nu_err": None, "failure": failure}
    nu, err = summary["nu"], summary["nu_err"]
    ok = abs(nu) <= 3 * err and err < 0.1
    print(f"    nu = {nu:+.4f} +- {err:.4f} ({nu / err:+.2f} sigma from 0)   target |nu| <= 3 nu_err, "
          f"nu_err < 0.1   {verdict(ok)}")
    x, xe = com.x_com_um.values[com.used.values], com.x_com_err_um.values[com.used.values]
    if x.size > 2:
        print(f"    static cloud: scatter of x_com {np.std(x, ddof=1):.3f} um, median quoted error {np.median(xe):.3f} "
              f"um, std of (x - mean)/x_err {np.std((x - x.mean()) / xe, ddof=1):.2f} (includes the real cloud's "
              "own jitter)")
    return {"used": used, "n": n, "nu": nu, "nu_err": err}


def injection_study(name: str, cloud, source_manifest: Path, camera, config: dict, work: Path, theory: Path,
                    seeds: int) -> dict:
    """``seeds`` injected runs of ``cloud``, analysed; pooled per-shot statistics and the nu pulls."""
    pooled: dict[str, list] = {}
    nu_pulls, n_pumped, n_measured, failures = [], 0, 0, []
    default = None
    start = time.perf_counter()
    frame_um = 512 * PIXEL
    half = cloud_half_extent_um(cloud)
    for seed in range(seeds):
        # each seed places the cloud elsewhere in the frames (seeded): the same 23 frames give independent residual
        # fringes under the cloud from seed to seed, so the pooled shots and the nu pulls are independent samples
        rng = np.random.default_rng(1000 + seed)
        lo, hi = (half[0] + 4.0, frame_um - half[0] - 4.0), (half[1] + 4.0, frame_um - half[1] - 4.0)
        centre = (float(rng.uniform(*lo)) if lo[1] > lo[0] else frame_um / 2,
                  float(rng.uniform(*hi)) if hi[1] > hi[0] else frame_um / 2)
        params = injection_params_from_config(
            {"imaging": {"pixel_size_um": PIXEL, "isat_counts": ISAT},
             "injection": {"nu": 0.96, "cycles": [0, 1, 2, 3, 4], "directions": [1, -1], "repeats": 1,
                           "position_jitter_um": 0.25, "seed": seed, "centre_um": list(centre),
                           "camera": {"gain": camera.gain, "read_noise_counts": camera.read_noise_counts}}},
            cloud=cloud)
        run = work / f"{name}-{seed}"
        truth = inject_run(run / "run", data={"manifest": str(source_manifest)}, params=params)
        summary, failure = analyse(config, run / "run/manifest.csv", run / "analysis", theory)
        com = read_dataset(run / "analysis/com.nc")
        default = str(com.attrs.get("estimator", "com"))
        residuals, pumped, used = measured_residuals(com, truth)
        n_pumped += pumped
        n_measured += residuals["com"].residual.size
        for est, r in residuals.items():  # each run's constant offset removed (it cancels in nu)
            if r.residual.size:
                keep = np.sqrt(1 - 1 / r.residual.size)
                r = type(r)(r.residual - r.residual.mean(), r.error * keep, r.bound, r.bound_name)
            pooled.setdefault(est, []).append(r)
        line = f"    seed {seed:2d}: {residuals['com'].residual.size}/{pumped} measured"
        if summary is None:
            failures.append(failure)
            line += f", no fit ({failure})"
        else:
            pull = (summary["nu"] - truth["nu_true"]) / summary["nu_err"]
            nu_pulls.append(pull)
            line += f", nu = {summary['nu']:.4f} +- {summary['nu_err']:.4f}, pull {pull:+.2f}"
        print(line)
    elapsed = time.perf_counter() - start
    fraction = n_measured / n_pumped
    print(f"  {name}: {seeds} runs in {elapsed:.0f} s; {n_measured}/{n_pumped} shots measured ({100 * fraction:.1f} %)"
          f"   target >= 95 %   {verdict(fraction >= 0.95)}")
    result = {"fraction_measured": fraction, "n_measured": n_measured, "n_pumped": n_pumped, "estimators": {},
              "default_estimator": default, "fit_failures": len(failures)}
    for est, parts in pooled.items():
        residual = np.concatenate([p.residual for p in parts])
        error = np.concatenate([p.error for p in parts])
        bounds = [p.bound for p in parts if p.bound is not None]
        bound = np.concatenate(bounds) if len(bounds) == len(parts) else None
        label = f"{est} (default: {default})" if est == "com" else est
        if residual.size < 2:
            print(f"    {label:<22} fewer than 2 shots measured")
            continue
        s = residual_statistics(residual, error, bound)
        result["estimators"][est] = s
        efficiency = "n/a" if s["efficiency"] is None else f"{s['efficiency']:.2f}"
        text = (f"    {label:<22} n {residual.size:4d}  bias {s['bias_um']:+.4f} um  RMS {s['rms_um']:.4f} um  "
                f"median error {s['median_error_um']:.4f} um  pull std {s['pull_std']:.2f}  efficiency {efficiency}")
        if est == "com":
            text += (f"\n      default estimator: RMS <= 0.05 um {verdict(s['rms_um'] <= 0.05)} (median Cramer-Rao "
                     f"bound {s['median_bound_um'] or float('nan'):.3f} um); "
                     f"pull std in 0.8-1.25 {verdict(0.8 <= s['pull_std'] <= 1.25)}")
        print(text)
    if len(nu_pulls) >= 2:
        mean, std = float(np.mean(nu_pulls)), float(np.std(nu_pulls, ddof=1))
        ok = abs(mean) <= 0.3 and 0.8 <= std <= 1.25
        print(f"    nu pulls over {len(nu_pulls)} runs: mean {mean:+.2f} +- {std / math.sqrt(len(nu_pulls)):.2f}, "
              f"std {std:.2f}   target mean within +-0.3, std 0.8-1.25   {verdict(ok)}")
        result["nu_pulls"] = {"n": len(nu_pulls), "mean": mean, "std": std}
    else:
        print(f"    nu pulls: {len(nu_pulls)} fits of {seeds} runs   target mean within +-0.3, std 0.8-1.25   MISSED")
    return result


def cloud_half_extent_um(cloud) -> tuple[float, float]:
    """Half the extent (along, across the pump axis) of an injected cloud, um: 4 RMS widths of a Gaussian, the
    template's half size for a measured shape."""
    if isinstance(cloud, GaussianCloud):
        return 4.0 * cloud.sigma_um[0], 4.0 * cloud.sigma_um[1]
    n_across, n_along = np.shape(cloud.template)
    return 0.5 * n_along * cloud.pixel_size_um, 0.5 * n_across * cloud.pixel_size_um


def od_input_supported(tmp: Path) -> bool:
    """Whether the manifest reader takes an ``od`` column (another part of issue 11)."""
    from atompump.io.manifest import scan_manifest

    probe = tmp / "od-probe"
    probe.mkdir()
    (probe / "x.npy").write_bytes(b"")
    (probe / "manifest.csv").write_text("shot,od,cycle\ns0,x.npy,0\n")
    try:
        scan_manifest(probe / "manifest.csv")
    except InputDataError as exc:
        return "lacks column" not in str(exc)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "real"),
                        help="folder with banik-ring-dev/ and oqtant-insitu/")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--only", default="a,b,c", help="which parts to run (a, b, c)")
    parser.add_argument("--seed", type=int, default=11, help="seed of the random labels of (a) and (c)")
    parser.add_argument("--json", default=None, help="write the numbers here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    data = Path(args.data)
    banik, oqtant = data / "banik-ring-dev", data / "oqtant-insitu"
    if not banik.is_dir():
        print(f"real data not found at {data} (banik-ring-dev/ missing): skipped; pass --data FOLDER")
        return 0
    parts = set(args.only.split(","))
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        theory = tmp / "theory.json"
        theory.write_text(json.dumps({"dl_um": 0.767, "chern_numbers": [1, -1, 1], "nu_theory": 1.0}))
        rows = banik_rows(banik)
        config = base_config(PIXEL, ISAT)
        if "a" in parts:
            print(f"(a) banik-ring-dev: {len(rows)} real shots, random cycle labels 0-4 and directions (seed "
                  f"{args.seed})")
            manifest = tmp / "banik-static.csv"
            write_manifest(manifest, random_labels(rows, args.seed))
            results["a"] = static_run("banik-ring-dev", manifest, config, tmp / "a", theory, len(rows))
        if "b" in parts:
            source = tmp / "banik-source.csv"
            write_manifest(source, [{**row, "cycle": 0} for row in rows])
            probe_params = injection_params_from_config({"imaging": {"pixel_size_um": PIXEL, "isat_counts": ISAT}})
            camera = measure_camera_noise({"manifest": str(source)}, probe_params)
            print(f"(b) injection into banik-ring-dev's probe and dark frames ({len(rows)} shots, split mode), "
                  f"{args.seeds} seeds per cloud")
            print(f"  camera (photon transfer on pairs of probe frames of consecutive shots): gain "
                  f"{camera.gain:.2f} +- {camera.gain_err:.2f} counts per photoelectron, read noise "
                  f"{camera.read_noise_counts:.2f} counts, dark level {camera.offset_counts:.1f} counts")
            results["camera"] = camera.as_dict()
            clouds = {"gaussian 8x4 um, peak OD 1": GaussianCloud(sigma_um=(8.0, 4.0), peak_od=1.0)}
            shape_file = oqtant / f"{OQTANT_SHAPE}.txt"
            if shape_file.is_file():
                with open_image(shape_file) as image:
                    od = image.read("it_plot").astype(float)
                clouds[f"oqtant {OQTANT_SHAPE}"] = load_od_image_cloud(od, pixel_size_um=OQTANT_PIXEL,
                                                                       source=str(shape_file))
            else:
                print(f"  oqtant shape: {shape_file} not found: skipped")
            results["b"] = {}
            for label, cloud in clouds.items():
                print(f"  cloud: {label}")
                results["b"][label] = injection_study(label.split()[0], cloud, source, camera, config, tmp / "b",
                                                      theory, args.seeds)
        if "c" in parts:
            files = sorted(oqtant.glob("*.txt"))
            if not files:
                print(f"(c) oqtant-insitu: not found at {oqtant}: skipped")
            elif not od_input_supported(tmp):
                print("(c) oqtant-insitu as OD input: skipped: OD input not available (no 'od' manifest column in "
                      "this atompump)")
                results["c"] = "skipped: OD input not available"
            else:
                print(f"(c) oqtant-insitu as OD input: {len(files)} shots, random labels (seed {args.seed})")
                manifest = tmp / "oqtant.csv"
                write_manifest(manifest, random_labels([{"shot": f.stem, "od": str(f)} for f in files], args.seed))
                oq = base_config(OQTANT_PIXEL, None)
                results["c"] = static_run("oqtant-insitu", manifest, oq, tmp / "c", theory, len(files))
    if args.json:
        from atompump.io.atomic import write_json

        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
