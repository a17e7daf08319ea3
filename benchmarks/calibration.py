"""Injection-recovery calibration of the whole analysis chain (issue: calibrated errors).

Runs N simulated runs with known displacement per cycle, drawn from 0.80..1.05 dl, and prints the pull
distribution (nu - nu_true) / nu_err. Targets: mean within 0.1 of 0, standard deviation within [0.9, 1.1].

--chain images (default, 400 runs): Gaussian clouds with photon and read noise and shot-to-shot jitter, in
    memory, through the reduction, the centre-of-mass estimator of the workflow and the fit.
--chain workflow (200 runs): the simulator's whole imaging chain (Airy point-spread function, probe fringes that
    change from shot to shot, camera noise, drift, jitter, reference shots, random order), written to disk, and
    the workflow's analysis chain (run table, fringe basis and removal, reduction, centre of mass, fit), with the
    default config's settings for a run of 56 shots (32 pumped, 24 reference).

    python benchmarks/calibration.py [--chain images|workflow] [--runs N] [--figure PNG]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atompump.calibration import CalibrationRun, calibration_study, workflow_calibration_study  # noqa: E402
from atompump.report.figures import pull_histogram_figure, save_figure  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chain", choices=("images", "workflow"), default="images")
    parser.add_argument("--runs", type=int, default=None, help="default: 400 (images), 200 (workflow)")
    parser.add_argument("--model", default="linear")
    parser.add_argument("--seed", type=int, default=20161)
    parser.add_argument("--figure", default=None, help="write the pull histogram here (PNG)")
    parser.add_argument("--json", default=None, help="write the summary here")
    args = parser.parse_args()

    nu_values = np.linspace(0.80, 1.05, 11)
    start = time.perf_counter()
    if args.chain == "images":
        study = calibration_study(CalibrationRun(), n_runs=args.runs or 400, seed=args.seed, model=args.model,
                                  nu_true_values=nu_values)
    else:
        import tempfile

        import yaml

        config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
        config["simulation"].update(repeats=4, cycles=[0, 1, 2, 3])
        config["fit"].update(model=args.model, n_bootstrap=0)
        with tempfile.TemporaryDirectory() as work:
            study = workflow_calibration_study(config, n_runs=args.runs or 200, workdir=work, seed=args.seed,
                                               nu_true_values=nu_values)
    elapsed = time.perf_counter() - start
    p = study["pulls"]
    mean_ok = abs(p["mean"]) <= 0.1
    std_ok = 0.9 <= p["std"] <= 1.1
    print(f"calibration ({args.chain} chain): {p['n']} runs, model {args.model}, {elapsed:.1f} s "
          f"({elapsed / p['n'] * 1e3:.0f} ms/run)")
    print(f"  pull mean  {p['mean']:+.3f} +- {p['mean_err']:.3f}   target |mean| <= 0.1   {'PASS' if mean_ok else 'FAIL'}")
    print(f"  pull std   {p['std']:.3f} +- {p['std_err']:.3f}    target 0.9..1.1        {'PASS' if std_ok else 'FAIL'}")
    print(f"  coverage   1 sigma {p['coverage_1sigma']:.3f} (0.683), 2 sigma {p['coverage_2sigma']:.3f} (0.954); "
          f"KS p = {p['ks_pvalue']:.3f}")
    if "oracle_pulls" in study:
        o = study["oracle_pulls"]
        print(f"  oracle     the same fit on the true centres: pull mean {o['mean']:+.3f} +- {o['mean_err']:.3f}, "
              f"std {o['std']:.3f} +- {o['std_err']:.3f} (the runs' own sampling fluctuation)")
    if args.figure:
        pulls = np.array([r["pull"] for r in study["runs"]])
        title = f"calibration ({args.chain} chain): {p['n']} simulated runs"
        save_figure(pull_histogram_figure(pulls, title=title), args.figure)
        print(f"  figure: {args.figure}")
    if args.json:
        Path(args.json).write_text(json.dumps({k: v for k, v in study.items() if k != "runs"}, indent=2) + "\n")
    return 0 if (mean_ok and std_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
