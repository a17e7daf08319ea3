"""Time evolution of an interacting pump: the displacement per cycle against the pump period.

The ring of :class:`~atompump.theory.interacting.hubbard.RiceMeleRing` starts in its ground state at phi = 0 and
evolves under ``H(theta, phi(t))`` with ``phi = 2 pi t / T`` (hbar = 1, time in inverse energy units of the
model), by exact propagation over short steps with the Hamiltonian at each step's midpoint (dense ``eigh`` for
small spaces, ``scipy.sparse.linalg.expm_multiply`` otherwise; error O(dt^2)). The charge through a cut is the
displacement of ``X = sum x_i n_i`` divided by the ring length, ``Q = (1/L) int <dX/dt> dt`` with
``dX/dt = i [H, X]`` (:meth:`~atompump.theory.interacting.hubbard.RiceMeleRing.velocity`), averaged over a few
twists theta (Niu & Thouless: the twist average of the adiabatic charge is the Chern number exactly). For slow
cycles (T much longer than 1 / gap^2 scales) it tends to the many-body Chern number of
:func:`~atompump.theory.interacting.hubbard.interacting_pump`; for fast ones the non-adiabatic loss shows.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import expm_multiply

from atompump.theory.interacting.hubbard import RiceMeleRing
from atompump.theory.interacting.manybody import lowest_states

__all__ = ["pumped_charge_dynamics", "period_scan"]


def _evolve(ring: RiceMeleRing, theta: float, period: float, n_cycles: int, steps_per_cycle: int) -> float:
    _, v = lowest_states(ring.hamiltonian(theta, 0.0), 1)
    psi = v[:, 0].astype(complex)
    dt = period / steps_per_cycle
    dense = ring.dimension <= 400
    moved = 0.0
    for step in range(n_cycles * steps_per_cycle):
        phi = 2 * np.pi * (step + 0.5) / steps_per_cycle
        h = ring.hamiltonian(theta, phi)
        vel = ring.velocity(theta, phi)
        if dense:
            e, u = np.linalg.eigh(h.toarray())
            half = u @ (np.exp(-0.5j * e * dt) * (u.conj().T @ psi))
            moved += dt * float(np.real(np.vdot(half, vel @ half)))
            psi = u @ (np.exp(-0.5j * e * dt) * (u.conj().T @ half))
        else:
            half = expm_multiply(-0.5j * dt * h, psi)
            moved += dt * float(np.real(np.vdot(half, vel @ half)))
            psi = expm_multiply(-0.5j * dt * h, half)
    return moved / ring.n_cells / n_cycles


def pumped_charge_dynamics(ring: RiceMeleRing, *, period: float, n_cycles: int = 1, steps_per_cycle: int = 400,
                           n_theta: int = 4) -> float:
    """Charge pumped per cycle (particles through a cut, +x positive) by the evolving ground state, averaged over
    ``n_theta`` twists ``2 pi j / n_theta``; ``period`` in inverse energy units of the model (hbar = 1)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        thetas = 2 * np.pi * np.arange(n_theta) / n_theta
        return float(np.mean([_evolve(ring, t, period, n_cycles, steps_per_cycle) for t in thetas]))


def period_scan(ring: RiceMeleRing, periods, *, steps_per_unit_time: float = 8.0, min_steps: int = 200,
                **kwargs) -> list[dict]:
    """``{"period", "charge_per_cycle"}`` for each period (steps scale with the period)."""
    return [{"period": float(T), "charge_per_cycle": pumped_charge_dynamics(
        ring, period=float(T), steps_per_cycle=max(min_steps, int(steps_per_unit_time * T)), **kwargs)}
        for T in periods]
