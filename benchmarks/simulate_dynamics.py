"""Benchmark: time per simulated pump cycle of the continuum dynamics at the default grid, against the
tight-binding fast path on the same cloud, in one run.

Default config: Lohse lattice (Vs = 10 Er,s, Vl = 20 Er,l), 50 Hz trap, 35 atoms per tube (cloud3d), 16 grid points
per cell, the automatic box for 4 cycles, T = 400 ms; the continuum at the accuracy-grade step (dt = 2 hbar/Er,s,
4 trap sub-steps: displacement converged to ~1e-3) and at the workflow's default (dt = 4).

    python benchmarks/simulate_dynamics.py [--cycles 0.25]

A fraction of a cycle is timed (the cost per cycle is uniform) and scaled to one cycle.
"""

from __future__ import annotations

import argparse
import time

from threadpoolctl import threadpool_limits

from atompump.config import fill_defaults
from atompump.simulate.dynamics import InitialEnsemble, PumpProtocol, evolve, initial_ensemble
from atompump.simulate.run import _model
from atompump.stages.simulate import dynamics_params


def time_per_cycle(model, orbitals, period, dt, substeps, cycles):
    protocol = PumpProtocol(period=period, dt=dt, substeps=substeps)
    start = time.perf_counter()
    evolve(model, orbitals.states, protocol, [cycles * period])
    return (time.perf_counter() - start) / cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=float, default=0.25, help="fraction of a cycle to time")
    args = parser.parse_args()
    results = {}
    for name, model_name, dt, substeps in (("continuum, dt 2 x 4 sub-steps", "continuum", 2.0, 4),
                                           ("continuum, dt 4 x 4 sub-steps (config default)", "continuum", 4.0, 4),
                                           ("tight-binding, dt 4", "tight_binding", 4.0, 1)):
        dyn = dynamics_params(fill_defaults({"simulation": {"dynamics": model_name}}))  # the configured sequence
        model = _model(dyn, 4.0)
        with threadpool_limits(limits=1, user_api="blas"):
            orbitals = initial_ensemble(model, InitialEnsemble(atoms_per_tube=dyn.pump.atoms_per_tube,
                                                               cloud=dyn.pump.cloud))
            period = dyn.pump.period_ms / dyn.time_unit_ms()
            results[name] = time_per_cycle(model, orbitals, period, dt, substeps, args.cycles)
        size = f"{model.n} grid points" if model_name == "continuum" else f"{model.n} sites"
        print(f"{name:48s} {results[name]:7.2f} s per cycle  ({size}, {orbitals.states.shape[0]} orbitals, "
              f"T = {dyn.pump.period_ms:g} ms = {period:.0f} hbar/Er,s)")
    tb = results["tight-binding, dt 4"]
    for name, value in results.items():
        print(f"  {name:46s} {value / tb:8.1f} x the tight-binding time")


if __name__ == "__main__":
    main()
