"""Benchmark (issue 15, item 6): the default ``snakemake --cores 8`` run, in total and rule by rule, and the
start-up (imports) each job pays.

The default config (``config/config.yaml``: a simulated Lohse-like run of 180 shots) is run from scratch in a
temporary folder, as the README's quickstart runs it. Printed:

* the total wall time, against the target of 30 s (on the 2-core development machine; ``met`` only when below);
* each rule's jobs, their wall time (from the start and finish times in Snakemake's log, 1 s resolution) and its
  share of the run's wall time; rules on the run's critical path are marked (``*``: the chain of jobs that each
  started when the previous one finished);
* each job's start-up: the time to import the stage module its adapter imports (``python -c "import ..."``, best
  of ``--repeats``), against the import of every stage at once (what each job paid before the stage package
  imported its modules on first use) measured in the same run, and its share of the rule's wall time;
* the machine's load average before and after (other users' jobs on the same cores slow every number);
* with ``--baseline REV`` (e.g. ``main``), the same run of that git revision (a temporary ``git worktree``), run
  right before, and the ratio of the two totals: the speed-up under the same load.

    python benchmarks/default_run.py [--cores 8] [--repeats 3] [--keep DIR] [--baseline REV]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 30.0

# the stage module each rule's adapter imports (workflow/scripts/<rule>.py)
RULE_MODULES = {
    "simulate": "atompump.stages.simulate", "theory": "atompump.stages.theory",
    "prediction": "atompump.stages.theory", "shots": "atompump.stages.reduce",
    "fringe_basis": "atompump.stages.reduce", "reduce_batch": "atompump.stages.reduce",
    "check_reduce": "atompump.stages.reduce", "template": "atompump.stages.com", "com_batch": "atompump.stages.com",
    "gather_com": "atompump.stages.com", "fit": "atompump.stages.fit", "recovery": "atompump.stages.recovery",
    "provenance": "atompump.stages.provenance", "figures_before_fit": "atompump.stages.report",
    "figures": "atompump.stages.report", "report": "atompump.stages.report",
}
EVERY_STAGE = ("atompump.stages.com, atompump.stages.fit, atompump.stages.reduce, atompump.stages.report, "
               "atompump.stages.simulate, atompump.stages.theory, atompump.stages.pipeline")


def import_seconds(modules: str, repeats: int) -> float:
    """Best wall time of a fresh interpreter importing ``modules`` (comma-separated), s."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {modules}"], check=True, cwd=REPO)
        best = min(best, time.perf_counter() - start)
    return best


def job_times(log: Path) -> list[tuple[str, float, float]]:
    """(rule, start, finish) of every job in a Snakemake log (POSIX seconds, 1 s resolution)."""
    stamp, started, rules, jobs = None, {}, {}, []
    pending = None
    for line in log.read_text().splitlines():
        if line.startswith("[") and line.endswith("]"):
            stamp = datetime.strptime(line.strip("[]"), "%a %b %d %H:%M:%S %Y").timestamp()
        elif m := re.match(r"(?:local)?rule (\w+):", line):
            pending = m.group(1)
        elif pending and (m := re.match(r"\s+jobid: (\d+)", line)):
            started[m.group(1)], rules[m.group(1)], pending = stamp, pending, None
        elif m := re.match(r"Finished jobid: (\d+)", line):
            jobs.append((rules[m.group(1)], started[m.group(1)], stamp))
    return jobs


def critical_rules(jobs: list[tuple[str, float, float]]) -> set[str]:
    """Rules on the chain that ends with the last job: each link the job that finished when the next one started."""
    chain, current = set(), max(jobs, key=lambda j: j[2])
    while True:
        chain.add(current[0])
        before = [j for j in jobs if j[2] <= current[1] and j is not current]
        if not before:
            return chain
        current = max(before, key=lambda j: (j[2], j[2] - j[1]))


def run_workflow(repo: Path, folder: Path, cores: int) -> float:
    """Wall time of ``snakemake --cores CORES`` of ``repo``'s default config in ``folder``, s."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(folder),
                           "--cores", str(cores)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return time.perf_counter() - start


def baseline_seconds(rev: str, cores: int) -> float:
    """The default run of git revision ``rev`` (checked out in a temporary worktree), s."""
    with tempfile.TemporaryDirectory(prefix="atompump-baseline-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev], check=True,
                       capture_output=True)
        try:
            return run_workflow(tree, Path(tmp) / "run", cores)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (default: a temporary one)")
    parser.add_argument("--baseline", metavar="REV", help="also run this git revision first (e.g. main)")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="atompump-default-run-"))
    if args.keep and folder.exists():
        shutil.rmtree(folder)
    load_before = os.getloadavg()
    baseline = baseline_seconds(args.baseline, args.cores) if args.baseline else None
    total = run_workflow(REPO, folder, args.cores)
    load_after = os.getloadavg()
    jobs = job_times(max((folder / ".snakemake" / "log").glob("*.snakemake.log")))
    chain = critical_rules(jobs)
    every = import_seconds(EVERY_STAGE, args.repeats)
    print(f"default run (snakemake --cores {args.cores}, {os.cpu_count()} cores): {total:.1f} s wall; target "
          f"< {TARGET_S:.0f} s: {'met' if total < TARGET_S else 'NOT met'}")
    if baseline is not None:
        print(f"baseline {args.baseline} (run just before): {baseline:.1f} s wall; this code / baseline: "
              f"{total / baseline:.2f}")
    print(f"load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f} "
          "(other users' jobs slow every number)")
    print(f"\nimport of every stage at once (each job's start-up before the lazy stage package): {every:.2f} s\n")
    print(f"{'rule':<20}{'jobs':>5}{'wall s':>8}{'share':>7}  {'start-up s':>10}{'vs all':>8}{'of wall':>8}")
    by_rule: dict[str, list[float]] = {}
    for rule, begin, end in jobs:
        by_rule.setdefault(rule, []).append(end - begin)
    imports: dict[str, float] = {}
    for rule, walls in sorted(by_rule.items(), key=lambda kv: -sum(kv[1])):
        if rule == "all":
            continue
        module = RULE_MODULES.get(rule)
        if module and module not in imports:
            imports[module] = import_seconds(module, args.repeats)
        startup = imports.get(module, float("nan"))
        wall = sum(walls)
        mark = "*" if rule in chain else " "
        print(f"{rule + mark:<20}{len(walls):>5}{wall:>8.0f}{wall / total:>7.0%}  {startup:>10.2f}"
              f"{startup / every:>8.2f}{startup * len(walls) / max(wall, 1.0):>8.0%}")
    print("\n*: on the critical path. wall: from Snakemake's log (1 s resolution); start-up: best of "
          f"{args.repeats} fresh interpreters importing the rule's stage module; vs all: its ratio to importing "
          "every stage.")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
