"""Benchmark: the tight-binding pump evolved by atompump against QuTiP's ``sesolve``, at equal accuracy.

The same Rice--Mele chain in a harmonic trap (the workflow's default couplings, 64 cells, 50 Hz trap) and the same
ensemble of 35 occupied orbitals are pumped through one cycle of T = 1000 hbar/Er,s (41 ms). The reference is
QuTiP at atol 1e-12; each method's accuracy knob (atompump: the time step; QuTiP: atol = 100 rtol) is tightened
until the largest orbital error is below ``--tolerance``, then timed (best of three). Prints the ratio.

    python benchmarks/tight_binding_vs_qutip.py [--tolerance 1e-4]

Needs the optional extra ``bench`` (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import qutip
from threadpoolctl import threadpool_limits

from atompump.simulate.dynamics import InitialEnsemble, PumpProtocol, evolve, initial_ensemble
from atompump.simulate.tight_binding import TightBindingModel
from atompump.theory.rice_mele import LOHSE_RICE_MELE, RiceMeleParams

PERIOD = 1000.0


def qutip_evolve(model: TightBindingModel, couplings: RiceMeleParams, states: np.ndarray, *, atol: float):
    """Each orbital through one cycle with sesolve; H(t) = H0 + cos(phi) Hc + sin(phi) Hs."""
    n = model.n
    intra = np.zeros(n - 1)
    intra[0::2] = 1.0
    inter = 1.0 - intra
    h0 = np.diag(model.v_trap) - couplings.J * (np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1))
    bonds = -couplings.dJ * intra + couplings.dJ * inter
    hc = np.diag(bonds, 1) + np.diag(bonds, -1)
    hs = couplings.Delta * np.diag(np.tile([1.0, -1.0], model.n_cells))
    omega = 2 * np.pi / PERIOD
    h = qutip.QobjEvo([qutip.Qobj(h0), [qutip.Qobj(hc), lambda t: np.cos(omega * t)],
                       [qutip.Qobj(hs), lambda t: np.sin(omega * t)]])
    options = {"atol": atol, "rtol": atol / 100, "nsteps": 10**7, "store_states": False, "store_final_state": True}
    out = []
    for psi in states:
        result = qutip.sesolve(h, qutip.Qobj(psi.reshape(-1, 1)), [0.0, PERIOD], options=options)
        out.append(result.final_state.full().ravel())
    return np.array(out)


def atompump_evolve(model, states, *, dt):
    return evolve(model, states, PumpProtocol(period=PERIOD, dt=dt), [PERIOD])[0]


def best_of(func, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest orbital error (2-norm)")
    args = parser.parse_args()
    couplings = LOHSE_RICE_MELE
    model = TightBindingModel(couplings, n_cells=64, trap_hz=50.0)
    states = initial_ensemble(model, InitialEnsemble(atoms_per_tube=35)).states
    with threadpool_limits(limits=1, user_api="blas"):
        reference = qutip_evolve(model, couplings, states, atol=1e-12)

        def error(result):
            return float(np.linalg.norm(result - reference, axis=1).max())

        dt = 16.0
        while error(atompump_evolve(model, states, dt=dt)) > args.tolerance:
            dt /= 2
        atol = 1e-4
        while error(qutip_evolve(model, couplings, states, atol=atol)) > args.tolerance:
            atol /= 10
        ours = best_of(lambda: atompump_evolve(model, states, dt=dt))
        theirs = best_of(lambda: qutip_evolve(model, couplings, states, atol=atol))
        err_ours = error(atompump_evolve(model, states, dt=dt))
        err_theirs = error(qutip_evolve(model, couplings, states, atol=atol))
    print(f"tight-binding pump: {model.n} sites, {states.shape[0]} orbitals, one cycle of {PERIOD:g} hbar/Er,s")
    print(f"  atompump (exact tridiagonal propagator, dt = {dt:g}): {ours:.3f} s, max orbital error {err_ours:.1e}")
    print(f"  QuTiP sesolve (atol = {atol:g}, rtol = {atol / 100:g}):     {theirs:.3f} s, max orbital error "
          f"{err_theirs:.1e}")
    print(f"  speed-up at equal accuracy (< {args.tolerance:g}): {theirs / ours:.1f}x  (target: > 1)")


if __name__ == "__main__":
    main()
