"""Are the default run's error bars honest?  The default run repeated with many simulation seeds.

The default analysis quotes nu +- sigma and a deviation (nu - nu_theory) / sigma from the full prediction. One run
is one draw: its deviation should be a standard normal variate if sigma is honest and nu_theory is the physics the
simulator ran. This benchmark simulates the default config with ``--seeds`` different seeds, analyses each with the
same chain as the workflow (:func:`atompump.stages.pipeline.run_analysis`) and prints the pulls of nu against
``nu_theory`` and against the run's own ``nu_true`` (truth.json), their mean and RMS with the 1-sigma sampling
range of an RMS of N standard normals, and the seeds whose deviation exceeds 2 sigma. The oracle pull fits the
true centres (truth.json, with the run's jitter and drift) and divides by the analysis' error: it shows how much
of a pull the random draws of the seed themselves give.

A run of 20 seeds cannot tell an RMS pull of 1.0 from 1.3 (its sampling error is 0.16), so the verdict rests on two
sharper checks. (1) The analysis adds nothing to the draws: the RMS of (pull - oracle pull) is below 0.3 (the
reduction, estimators and fit move nu by less than 0.3 sigma from the true centres' own slope). (2) The quoted
error is the true spread of the slope: the median nu_err lies within 10 % of the standard deviation of the
true-centre slope over 4000 Monte Carlo draws of the configured jitter and drift on the seeds' own designs (the
simulator's random acquisition orders), which the benchmark computes. "ok" only when both hold. The RMS and mean
of the pulls are printed with their sampling ranges as information.

    python benchmarks/seed_ensemble.py --seeds 2000-2019

Takes about 30 s per seed on one core (simulation + reduction + fit).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from atompump.config import fill_defaults, load_schema, planned_cycles
from atompump.stages.pipeline import run_analysis
from atompump.stages.simulate import simulate_stage
from atompump.stages.theory import prediction_stage, theory_stage

ROOT = Path(__file__).resolve().parents[1]


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def _slope_spread(config: dict, seeds: list[int], draws: int = 4000) -> float:
    """Standard deviation of the least-squares slope (dl per cycle) of the pumped shots' true centres over
    Monte Carlo draws of the configured Gaussian jitter on top of the configured drift, on the seeds' designs."""
    from atompump.simulate.design import design_shots
    from atompump.simulate.run import cloud_drift_um

    sim = config["simulation"]
    rng = np.random.default_rng(0)
    slopes = []
    for k in range(draws):
        seed = seeds[k % len(seeds)]
        shots = [e for e in design_shots(cycles=sim["cycles"], directions=sim["directions"], repeats=sim["repeats"],
                                         references=sim["references"], order=sim["order"], seed=seed)
                 if not e["reference"]]
        lever = np.array([e["direction"] * e["cycle"] for e in shots], float)  # in dl: the slope is in dl
        order = np.array([e["order"] for e in shots], float)
        x = (cloud_drift_um(order, per_shot_um=sim["drift"]["um_per_shot"], amplitude_um=sim["drift"]["amplitude_um"],
                            period_shots=sim["drift"]["period_shots"])
             + rng.normal(0.0, sim["position_jitter_um"], lever.size)) / config_dl_um(config)
        slopes.append(np.polyfit(lever, x, 1)[0])
    return float(np.std(slopes))


def config_dl_um(config: dict) -> float:
    """The long-lattice period dl of the config, um (lambda_l / 2)."""
    return float(config["lattice"]["lambda_l_nm"]) / 2000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="2000-2019", help="seeds, e.g. 2000-2019 or 2016,2017")
    parser.add_argument("--out", default=None, help="write the table as JSON here")
    args = parser.parse_args()
    schema = load_schema(ROOT / "workflow/schemas/config.schema.yaml")
    base = fill_defaults(yaml.safe_load((ROOT / "config/config.yaml").read_text()), schema)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        theory_json = tmp / "theory.json"
        theory_stage(theory_json, tmp / "bands.nc", tmp / "wannier.nc", lattice=base["lattice"],
                     theory=base["theory"], atom=base["atom"], pump=base["pump"])
        prediction_json = tmp / "prediction.json"  # the same for every seed: computed once
        prediction_stage(prediction_json, theory=base["theory"], pump=base["pump"],
                         numerics=base["simulation"]["pump"], tight_binding=base["simulation"]["tight_binding"],
                         lattice=base["lattice"], atom=base["atom"], cycles=planned_cycles(base))
        for seed in _seeds(args.seeds):
            start = time.perf_counter()
            config = json.loads(json.dumps(base))
            config["simulation"]["seed"] = seed
            run = tmp / f"seed-{seed}"
            truth = simulate_stage(run / "raw", simulation=config["simulation"], imaging=config["imaging"],
                                   lattice=config["lattice"], atom=config["atom"], pump=config["pump"])
            config["data"] = {**config["data"], "source": "measured"}
            summary = run_analysis(config, run / "work", manifest=run / "raw" / "manifest.csv",
                                   theory_json=theory_json, prediction_json=prediction_json)
            nu, err = float(summary["nu"]), float(summary["nu_err"])
            row = {"seed": seed, "nu": nu, "nu_err": err, "nu_theory": float(summary["nu_theory"]),
                   "nu_true": float(truth["nu_true"]),
                   "pull_theory": (nu - float(summary["nu_theory"])) / err,
                   "pull_true": (nu - float(truth["nu_true"])) / err}
            # the oracle: the same linear fit (equal weights) on the true centres, with the analysis' error: the
            # pull the run's own jitter and drift draws give, whatever the reduction and the estimators do
            shots = [t for t in truth["shots"] if not t["reference"]]
            lever = np.array([t["direction"] * t["cycle"] * truth["dl_um"] for t in shots])
            design = np.vstack([np.ones(lever.size), lever]).T
            slope = np.linalg.lstsq(design, np.array([t["x_true_um"] for t in shots]), rcond=None)[0][1]
            row["pull_oracle"] = (slope - row["nu_true"]) / err  # the lever arm is in dl: the slope is in dl
            rows.append(row)
            print(f"seed {seed}: nu = {nu:.4f} +- {err:.4f}  nu_theory {row['nu_theory']:.4f}  "
                  f"nu_true {row['nu_true']:.4f}  pull {row['pull_theory']:+.2f} (vs truth {row['pull_true']:+.2f}, "
                  f"oracle {row['pull_oracle']:+.2f})"
                  f"  {time.perf_counter() - start:.0f} s", flush=True)
    n = len(rows)
    analysis_rms = float(np.sqrt(np.mean([(r["pull_true"] - r["pull_oracle"]) ** 2 for r in rows])))
    expected_sd = _slope_spread(base, [r["seed"] for r in rows])
    median_err = float(np.median([r["nu_err"] for r in rows]))
    print(f"the analysis against the true centres: RMS of (pull - oracle pull) {analysis_rms:.3f} (target < 0.3)")
    print(f"quoted nu_err (median) {median_err:.4f} against the spread of the true-centre slope {expected_sd:.4f} "
          f"(Monte Carlo of jitter and drift on these designs): ratio {median_err / expected_sd:.3f} "
          "(target 0.9-1.1)")
    ok = analysis_rms < 0.3 and 0.9 <= median_err / expected_sd <= 1.1
    for key, label in (("pull_theory", "against nu_theory"), ("pull_true", "against the run's nu_true"),
                       ("pull_oracle", "of the oracle (true centres)")):
        pulls = np.array([r[key] for r in rows])
        mean, rms = float(pulls.mean()), float(np.sqrt(np.mean(pulls**2)))
        spread = 1.0 / np.sqrt(2 * n)  # sampling RMS of the RMS of n standard normals (large n)
        print(f"pulls {label}: mean {mean:+.2f} (+-{1 / np.sqrt(n):.2f}), RMS {rms:.2f} "
              f"(1 +- {spread:.2f} expected), |pull| > 2 in {int(np.sum(np.abs(pulls) > 2))}/{n} "
              f"(expected {0.0455 * n:.1f})")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    print("ok" if ok else "NOT ok: the error bars or the prediction are off (see above)")


if __name__ == "__main__":
    main()
