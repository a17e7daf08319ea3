"""Benchmark (issue 7, point 4): wall time and peak memory of the whole workflow against the number of shots.

The default workflow (simulate, run table, ROI and fringe basis, per-batch reduction and centres of mass, gather,
theory, fit, figures, reports) runs with ``snakemake --cores CORES`` on simulated runs of 1,000, 5,000 and 20,000
shots of small frames (32 x 64 pixels; rigid cloud, fast camera noise, batches of ``data.batch_size`` = 200), each in
a fresh folder. While it runs, the benchmark polls ``/proc`` every 0.1 s for every process of the run and records

* each job's peak resident memory (``VmHWM``), grouped by rule (the job's script name), and the Snakemake process;
* the workflow's peak: the largest sum of resident memory of all its processes at one moment.

It prints wall time, time per shot, the marginal time per added shot between consecutive sizes, job counts and the
memory figures, and checks the targets:

* time linear in shots within 20 %: the marginal cost per shot of the larger step (5,000 -> 20,000) is within 20 % of
  that of the smaller step (1,000 -> 5,000). A fixed cost (theory, figures, reports, job start-up) is allowed: a
  straight line with an offset is linear in shots;
* memory flat within 20 %: the largest job's peak memory at 20,000 shots is within 20 % of that at 1,000 shots.

With ``--slurm`` it then starts a single-node SLURM cluster (``tools/slurm-cluster.sh``; needs root, see there) and
runs the 1,000-shot workflow through ``--profile workflow/profiles/slurm`` and locally, to print the job count and
the overhead per job under SLURM: (wall time on SLURM - wall time locally) / jobs, with the same number of cores.

    python benchmarks/scaling.py [--shots 1000 5000 20000] [--cores 2] [--slurm] [--slurm-shots 1000]

Run it on an otherwise idle machine: other load shows up as time.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def config_for(n_shots: int, batch_size: int) -> dict:
    """A fast simulated run of ``n_shots`` shots: 5 cycles x 2 directions x n/10 repeats, no reference shots, no
    linear drift (the sinusoidal drift stays)."""
    if n_shots % 10:
        raise SystemExit(f"--shots: {n_shots} is not a multiple of 10 (5 cycles x 2 directions)")
    return {
        "data": {"batch_size": batch_size},
        "simulation": {"cycles": [0, 1, 2, 3, 4], "directions": [1, -1], "repeats": n_shots // 10,
                       "references": False, "order": "interleaved", "dynamics": "rigid", "image_shape": [32, 64],
                       "cloud_sigma_um": [4.0, 4.0], "position_jitter_um": 0.1,
                       "drift": {"um_per_shot": 0.0},  # the default 0.002 um per shot would carry the cloud 40 um
                       "camera": {"noise_model": "fast"}},
        "imaging": {"pixel_size_um": 1.0},
        "theory": {"n_k": 12, "n_phi": 24},
    }


# --- process-tree sampling --------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _process_table() -> dict[int, tuple[int, float]]:
    """Every process: pid -> (parent pid, user + system CPU seconds so far), from one read of /proc/PID/stat."""
    table: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
    return table


def _status_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in kB (0, 0 when it is gone)."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def _job_name(pid: int, root: int) -> str:
    if pid == root:
        return "snakemake"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().decode(errors="replace").split("\0")
    except OSError:
        return "?"
    for arg in args:
        match = re.search(r"\.snakemake/scripts/tmp[^.]*\.(\w+)\.py$", arg)
        if match:
            return match.group(1)
    return "other"


class TreeSampler(threading.Thread):
    """Polls the process tree under ``root``: per-process peak memory and the largest summed resident memory."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_kb: dict[int, int] = {}
        self.cpu_s: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.total_peak_kb = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def sample(self) -> None:
        table = _process_table()
        children: dict[int, list[int]] = {}
        for pid, (parent, _) in table.items():
            children.setdefault(parent, []).append(pid)
        pids, stack = [], [self.root]
        while stack:
            pid = stack.pop()
            pids.append(pid)
            stack.extend(children.get(pid, []))
        total = 0
        for pid in pids:
            rss, hwm = _status_kb(pid)
            total += rss
            if hwm:
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), hwm)
                self.cpu_s[pid] = max(self.cpu_s.get(pid, 0.0), table[pid][1] if pid in table else 0.0)
                if pid not in self.names or self.names[pid] in ("other", "?"):
                    self.names[pid] = _job_name(pid, self.root)
        self.total_peak_kb = max(self.total_peak_kb, total)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def by_rule(self) -> tuple[dict[str, float], dict[str, float]]:
        """Per rule: peak memory (MB) of its largest process (the Python job, not its shell wrapper), and the CPU
        time (s) of all its jobs (as last sampled: a job's final 0.1 s may be missed)."""
        peak: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for pid, kb in self.peak_kb.items():
            name = self.names.get(pid, "?")
            if name in ("other", "?"):
                continue
            peak[name] = max(peak.get(name, 0.0), kb / 1024)
            cpu[name] = cpu.get(name, 0.0) + self.cpu_s.get(pid, 0.0)
        return peak, cpu


def run_workflow(workdir: Path, config: dict, *extra: str, cores: int | None = None) -> dict:
    """Run the workflow in ``workdir``; wall time, job count and memory figures."""
    workdir.mkdir(parents=True)
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--configfile", str(cfg), *(["--cores", str(cores)] if cores else []), *extra]
    with open(workdir / "snakemake.log", "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        code = proc.wait()
        seconds = time.perf_counter() - start
        sampler.stop()
    text = (workdir / "snakemake.log").read_text()
    if code != 0:
        raise RuntimeError(f"snakemake failed in {workdir} (status {code}):\n{text[-4000:]}")
    total = re.search(r"^total\s+(\d+)\s*$", text, flags=re.M)
    rules, cpu = sampler.by_rule()
    jobs_rss = {k: v for k, v in rules.items() if k != "snakemake"}
    # under SLURM the jobs run below slurmd, not below this Snakemake process: no per-job figures then
    largest = max(jobs_rss, key=jobs_rss.get) if jobs_rss else "(outside the process tree)"
    return {"seconds": seconds, "jobs": int(total.group(1)) if total else -1, "rules": rules, "cpu": cpu,
            "largest_job": largest, "largest_job_mb": jobs_rss.get(largest, float("nan")),
            "snakemake_mb": rules.get("snakemake", 0.0), "total_mb": sampler.total_peak_kb / 1024,
            "submitted": len(re.findall(r"has been submitted with SLURM jobid", text))}


def scaling(args: argparse.Namespace, tmp: Path) -> bool:
    results = {}
    for n in args.shots:
        print(f"running the workflow on {n} shots ...", flush=True)
        results[n] = run_workflow(tmp / f"run{n}", config_for(n, args.batch_size), cores=args.cores)
        r = results[n]
        print(f"  {r['seconds']:.1f} s, {r['jobs']} jobs, largest job {r['largest_job']} {r['largest_job_mb']:.0f} MB",
              flush=True)
    sizes = sorted(results)
    print(f"\nwhole workflow, {args.cores} cores, frames 32x64, batches of {args.batch_size} shots "
          f"(simulated: rigid cloud, fast camera noise)")
    print(f"  {'shots':>7s} {'wall (s)':>9s} {'ms/shot':>8s} {'marginal ms/shot':>17s} {'jobs':>5s} "
          f"{'largest job (MB)':>24s} {'snakemake (MB)':>15s} {'all at once (MB)':>17s}")
    marginal = {}
    for i, n in enumerate(sizes):
        r = results[n]
        if i:
            prev = sizes[i - 1]
            marginal[n] = 1e3 * (r["seconds"] - results[prev]["seconds"]) / (n - prev)
        print(f"  {n:7d} {r['seconds']:9.1f} {1e3 * r['seconds'] / n:8.2f} "
              f"{marginal[n] if n in marginal else float('nan'):17.2f} {r['jobs']:5d} "
              f"{r['largest_job_mb']:8.0f} ({r['largest_job']:>13s}) {r['snakemake_mb']:15.0f} {r['total_mb']:17.0f}")
    rules = sorted({k for r in results.values() for k in r["rules"]})
    print("\n  peak memory per rule (MB; the largest job of the rule):")
    print("  " + f"{'rule':14s}" + "".join(f"{n:>9d}" for n in sizes) + f"   ratio {sizes[-1]}/{sizes[0]}")
    for rule in rules:
        values = [results[n]["rules"].get(rule, float("nan")) for n in sizes]
        print("  " + f"{rule:14s}" + "".join(f"{v:9.0f}" for v in values) + f"   {values[-1] / values[0]:6.2f}")
    print("\n  CPU time per rule (s; all its jobs, user + system):")
    print("  " + f"{'rule':14s}" + "".join(f"{n:>9d}" for n in sizes) + "   ms/shot of each step")
    for rule in [*rules, "total"]:
        values = [sum(results[n]["cpu"].values()) if rule == "total" else results[n]["cpu"].get(rule, float("nan"))
                  for n in sizes]
        steps = [1e3 * (values[i] - values[i - 1]) / (sizes[i] - sizes[i - 1]) for i in range(1, len(sizes))]
        print("  " + f"{rule:14s}" + "".join(f"{v:9.1f}" for v in values) + "   "
              + " ".join(f"{v:6.2f}" for v in steps))
    ok = True
    if len(sizes) >= 3:
        ratio = marginal[sizes[-1]] / marginal[sizes[1]]
        met = abs(ratio - 1) <= 0.2
        ok &= met
        print(f"\n  time: marginal cost per shot {sizes[1]}->{sizes[2]} / {sizes[0]}->{sizes[1]} = {ratio:.2f} "
              f"(target 1 +- 0.2: linear in shots): {'met' if met else 'MISSED'}")
        fixed = results[sizes[0]]["seconds"] - marginal[sizes[1]] * sizes[0] / 1e3
        print(f"        fixed cost (intercept of the first step) {fixed:.0f} s; "
              f"time ratio {sizes[-1]}/{sizes[0]} = {results[sizes[-1]]['seconds'] / results[sizes[0]]['seconds']:.1f} "
              f"for {sizes[-1] / sizes[0]:.0f}x the shots")
    small, large = results[sizes[0]], results[sizes[-1]]
    for label, key in (("largest job", "largest_job_mb"), ("all processes at once", "total_mb")):
        ratio = large[key] / small[key]
        met = ratio <= 1.2
        ok &= met if key == "largest_job_mb" else True
        print(f"  memory, {label}: {large[key]:.0f} MB at {sizes[-1]} shots / {small[key]:.0f} MB at {sizes[0]} = "
              f"{ratio:.2f} (target <= 1.20: flat){'' if key == 'largest_job_mb' else ' [for information]'}: "
              f"{'met' if met else 'MISSED'}")
    return ok


def slurm_inner(args: argparse.Namespace) -> None:
    """Inside a running cluster (called through tools/slurm-cluster.sh): local and SLURM runs of the same size."""
    tmp = Path(args.slurm_inner)
    config = config_for(args.slurm_shots, args.batch_size)
    cpus = os.cpu_count() or 1
    local = run_workflow(tmp / "local", config, "--profile", str(ROOT / "workflow/profiles/default"), cores=cpus)
    slurm = run_workflow(tmp / "slurm", config, "--profile", str(ROOT / "workflow/profiles/slurm"))
    added = (slurm["seconds"] - local["seconds"]) / max(slurm["submitted"], 1)
    print(f"\nSLURM profile ({cpus} CPUs, single-node cluster on this machine), {args.slurm_shots} shots:")
    print(f"  local {local['seconds']:.1f} s ({local['jobs']} jobs); SLURM {slurm['seconds']:.1f} s "
          f"({slurm['jobs']} jobs, {slurm['submitted']} submitted to SLURM)")
    print(f"  overhead per job under SLURM: {added:.1f} s (wall-time difference / jobs submitted; includes "
          "submission, scheduling, status polling by squeue and job start-up)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shots", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--slurm", action="store_true", help="also measure the SLURM profile (needs root)")
    parser.add_argument("--slurm-only", action="store_true", help="only the SLURM measurement")
    parser.add_argument("--slurm-shots", type=int, default=1000)
    parser.add_argument("--slurm-inner", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.slurm_inner:
        slurm_inner(args)
        return
    ok = True
    with tempfile.TemporaryDirectory(prefix="atompump-scaling.") as tmp:
        if not args.slurm_only:
            ok = scaling(args, Path(tmp))
        if args.slurm or args.slurm_only:
            work = Path(tmp) / "slurm"
            work.mkdir()
            os.chmod(tmp, 0o755)
            proc = subprocess.run(["bash", str(ROOT / "tools/slurm-cluster.sh"), sys.executable, __file__,
                                   "--slurm-inner", str(work), "--slurm-shots", str(args.slurm_shots),
                                   "--batch-size", str(args.batch_size)], check=False)
            if proc.returncode == 77:
                print("SLURM measurement skipped (see the line above)")
            elif proc.returncode != 0:
                raise SystemExit(f"the SLURM measurement failed (status {proc.returncode})")
    print("\nall targets met" if ok else "\nsome target MISSED (see above)")


if __name__ == "__main__":
    main()
