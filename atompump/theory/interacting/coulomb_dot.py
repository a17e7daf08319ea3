"""The Coulomb-blockade turnstile: a quantum dot with charging energy, sequential tunnelling, a periodic drive.

One dot level at energy ``eps(t)`` (spinless, or spin-degenerate with ``g = 2``) holds n = 0, 1 (or 2) electrons;
adding the second costs the charging (addition) energy ``U`` on top: ``E(n) = eps n + U n (n - 1) / 2``. Two leads
a = L, R at chemical potential 0 and temperature T (Fermi function ``f(E) = 1 / (exp(E / kT) + 1)``) exchange
electrons with rates ``Gamma_a(t)`` (sequential tunnelling, valid for ``hbar Gamma << kT``; Beenakker, PRB 44, 1646
(1991)). The occupation probabilities P_n obey ``dP/dt = A(t) P`` with, per lead,

    0 -> 1: g Gamma_a f(eps),          1 -> 0: Gamma_a (1 - f(eps)),
    1 -> 2: Gamma_a f(eps + U),        2 -> 1: g Gamma_a (1 - f(eps + U))          (g = 2 only).

The drive is piecewise constant (a list of segments); over each segment the evolution is ``exp(A tau)`` and the
charge that leaves into the right lead is integrated exactly (``int_0^tau exp(A s) ds``, from the real spectrum
of the rate matrix, which obeys detailed balance). The periodic steady state is the fixed point of the one-cycle
propagator; the charge per cycle is the charge into R over one cycle in that state (> 0: left to right, as in
:mod:`atompump.theory.dot_pump`).

The turnstile (:func:`turnstile_segments`), four quarters of the period 1/f: *load* (left barrier open, level at
``eps_load < 0``), *isolate* (both closed, level raised to ``eps_unload > 0``), *unload* (right open), *reset*
(both closed, level lowered). Closed form for two charge states (spinless, or U -> infinity), each open quarter
lasting ``tau = 1 / (4 f)``: with ``lambda = in + out`` rates, ``n_eq = in / lambda`` and ``a = exp(-lambda tau)``
in the load (L) and unload (U) quarters,

    Q = (n_eq,L - n_eq,U) (1 - a_L) (1 - a_U) / (1 - a_L a_U)

(:func:`turnstile_closed_form`): the plateau Q = 1 for ``f << Gamma`` and ``kT << |eps|``, eroded by frequency
(``Q = tanh(Gamma / 8 f)`` for the spinless dot at T = 0) and by temperature
(``n_eq,L - n_eq,U = tanh(E / 2 kT)`` for ``eps = -+E``). With spin and a small charging energy the second
electron also enters while loading (``eps_load + U < 0``) and Q -> 2: the charging energy is what makes the
turnstile transfer single electrons.

Overlap with :mod:`atompump.theory.dot_pump` (Brouwer's coherent formula, U = 0, T = 0): driven slowly around the
same loop :class:`~atompump.theory.dot_pump.DotLoop`, the spinless master equation gives
``Q = -oint Gamma_R / Gamma dn_eq`` (:func:`adiabatic_charge`), which tends to the asymmetry s as
``kT << |eps1|``, the same limit Brouwer's charge reaches for ``Gamma << |eps1|`` (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DotSegment", "charge_per_cycle", "turnstile_segments", "turnstile_closed_form", "loop_segments",
           "adiabatic_charge"]


@dataclass(frozen=True)
class DotSegment:
    """A piece of the drive: duration (time unit = 1 / rate unit), level energy, the two tunnelling rates."""

    duration: float
    eps: float
    gamma_l: float
    gamma_r: float


def _fermi(energy: float, kT: float) -> float:
    if kT <= 0:
        return 1.0 if energy < 0 else (0.5 if energy == 0 else 0.0)
    return float(0.5 * (1.0 - np.tanh(0.5 * energy / kT)))


def _rates(seg: DotSegment, *, U: float, kT: float, spinful: bool):
    """Generator A (dP/dt = A P) and the net flow matrix into the right lead (per state), for one segment."""
    n = 3 if spinful else 2
    g = 2.0 if spinful else 1.0
    a = np.zeros((n, n))
    into_r = np.zeros(n)  # electrons per unit time leaving into R from state n, minus entering from R
    f1 = _fermi(seg.eps, kT)
    f2 = _fermi(seg.eps + U, kT)
    for gamma, right in ((seg.gamma_l, False), (seg.gamma_r, True)):
        transitions = [(0, 1, g * gamma * f1), (1, 0, gamma * (1 - f1))]
        if spinful:
            transitions += [(1, 2, gamma * f2), (2, 1, g * gamma * (1 - f2))]
        for src, dst, rate in transitions:
            a[dst, src] += rate
            a[src, src] -= rate
            if right:
                into_r[src] += rate * (1 if dst < src else -1)
    return a, into_r


def charge_per_cycle(segments, *, U: float = 0.0, kT: float = 0.0, spinful: bool = False) -> float:
    """Electrons moved from the left to the right lead per cycle in the periodic steady state.

    Parameters
    ----------
    segments : sequence of DotSegment
        One cycle of the piecewise-constant drive (rates in inverse time units of the durations).
    U : float, keyword-only
        Charging (addition) energy of the second electron (energy unit of eps and kT); spinful only.
    kT : float, keyword-only
        Lead temperature times k_B (0: step Fermi function).
    spinful : bool, keyword-only
        A spin-degenerate level (states 0, 1, 2 with the degeneracy factors above) instead of a spinless one.
    """
    n = 3 if spinful else 2
    generators, into_r = zip(*(_rates(seg, U=U, kT=kT, spinful=spinful) for seg in segments))
    a = np.array(generators)  # (segments, n, n)
    tau = np.array([seg.duration for seg in segments])[:, None]
    # a birth-death rate matrix satisfies detailed balance: real spectrum, diagonalisable
    lam, vec = np.linalg.eig(a)
    lam, vec = lam.real, vec.real
    inv = np.linalg.inv(vec)
    lt = lam * tau
    small = np.abs(lt) < 1e-12
    integral = np.where(small, tau, np.expm1(lt) / np.where(small, 1.0, lam))  # int_0^tau exp(lam s) ds
    propagators = np.einsum("sij,sj,sjk->sik", vec, np.exp(lt), inv)
    flows = np.einsum("si,sij,sj,sjk->sk", np.array(into_r), vec, integral, inv)
    total = np.eye(n)
    for prop in propagators:
        total = prop @ total
    w, v = np.linalg.eig(total)
    p = np.real(v[:, int(np.argmin(np.abs(w - 1.0)))])
    p = p / p.sum()
    charge = 0.0
    for prop, flow in zip(propagators, flows):
        charge += float(flow @ p)
        p = prop @ p
    return charge


def turnstile_segments(*, frequency: float, gamma: float = 1.0, eps_load: float = -5.0, eps_unload: float = 5.0,
                       closed: float = 0.0) -> list[DotSegment]:
    """The load-isolate-unload-reset cycle, each a quarter of the period ``1 / frequency``.

    ``gamma``: rate through an open barrier; ``closed``: rate through a closed one (0: perfect isolation).
    """
    if frequency <= 0 or gamma <= 0:
        raise ValueError("frequency and gamma must be positive")
    quarter = 0.25 / frequency
    return [DotSegment(quarter, eps_load, gamma, closed), DotSegment(quarter, eps_unload, closed, closed),
            DotSegment(quarter, eps_unload, closed, gamma), DotSegment(quarter, eps_load, closed, closed)]


def turnstile_closed_form(*, frequency: float, gamma: float = 1.0, eps_load: float = -5.0, eps_unload: float = 5.0,
                          kT: float = 0.0, spinful: bool = False) -> float:
    """Charge per cycle of :func:`turnstile_segments` (closed barriers shut) with two charge states (spinless, or
    spinful with U -> infinity): ``(n_L - n_U) (1 - a_L) (1 - a_U) / (1 - a_L a_U)``."""
    g = 2.0 if spinful else 1.0
    tau = 0.25 / frequency

    def relax(eps: float) -> tuple[float, float]:
        f = _fermi(eps, kT)
        rate_in, rate_out = g * gamma * f, gamma * (1 - f)
        lam = rate_in + rate_out
        return rate_in / lam, float(np.exp(-lam * tau))

    n_l, a_l = relax(eps_load)
    n_u, a_u = relax(eps_unload)
    return (n_l - n_u) * (1 - a_l) * (1 - a_u) / (1 - a_l * a_u)


def loop_segments(loop, *, frequency: float, n_segments: int = 400) -> list[DotSegment]:
    """A :class:`~atompump.theory.dot_pump.DotLoop` (energies eps, Gamma_L, Gamma_R; the rates are
    Gamma_a / hbar with hbar = 1) cut into ``n_segments`` piecewise-constant pieces of a period ``1 / frequency``."""
    t = (np.arange(n_segments) + 0.5) / n_segments
    eps, gl, gr = loop.at(t)
    return [DotSegment(1.0 / (frequency * n_segments), float(e), float(a), float(b)) for e, a, b in zip(eps, gl, gr)]


def adiabatic_charge(loop, *, kT: float, n_t: int = 20000) -> float:
    """Slow-drive limit of the spinless master equation around ``loop``: ``-oint Gamma_R / Gamma dn_eq``, with
    ``n_eq = f(eps(t))`` the instantaneous equilibrium occupation."""
    t = np.arange(n_t + 1) / n_t
    eps, gl, gr = loop.at(t)
    n_eq = 0.5 * (1.0 - np.tanh(0.5 * eps / kT))
    weight = gr / (gl + gr)
    mid = 0.5 * (weight[1:] + weight[:-1])
    return float(-np.sum(mid * np.diff(n_eq)))
