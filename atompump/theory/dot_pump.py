"""Adiabatic single-level quantum-dot pump: pumped charge from Brouwer's formula and its winding number.

A spinless level at energy ``eps`` couples to a left and a right lead with tunnelling rates ``Gamma_L``,
``Gamma_R`` (wide-band leads at zero temperature, Fermi energy 0). Its scattering matrix at the Fermi energy is
(Breit–Wigner)::

    S_ab = delta_ab - i sqrt(Gamma_a Gamma_b) / (0 - eps + i (Gamma_L + Gamma_R) / 2).

Slowly changing ``X = (eps, Gamma_L, Gamma_R)`` around a loop pumps the charge given by Brouwer's formula
(Brouwer, Phys. Rev. B 58, R10135 (1998)): with the time dependence ``exp(-i E t)`` of this S matrix, the charge
emitted into lead a is ``dQ_a = -(1 / 2 pi) Im sum_b conj(S_ab) dS_ab`` (units of the particle charge); the sign
is fixed by the Friedel sum rule ``dQ_L + dQ_R = -dN``, ``N = 1/2 - arctan(2 eps / Gamma) / pi`` the level's
occupation (tested).

The pumped charge is a topological quantity only in a limit: a loop that takes the level through the Fermi
energy while the dot is open mostly to the left, and back while it is open mostly to the right, moves one
particle from left to right. In the plane ``(eps, Gamma_L - Gamma_R)`` this is the loop's winding number around
the charge-degeneracy point (eps = 0, Gamma_L = Gamma_R), where the level is degenerate with the Fermi sea and
transmission is perfect (Levinson, Entin-Wohlman & Wölfle, Physica A 302, 335 (2001)). For the loop below the
charge tends to ``s * winding`` once the level excursion exceeds the width (|eps1| >> Gamma): when the level
crosses the Fermi energy it fills from (or empties into) lead a with probability ``Gamma_a / Gamma`` =
(1 +- s)/2, so the net transfer per cycle is s; it is quantised to the winding number as s -> 1, and vanishes
(to order (Gamma / eps)^2) for a loop that misses the point. The loop used here::

    eps(t) = eps0 + eps1 cos(2 pi t),  Gamma_{L,R}(t) = Gamma (1 +- s sin(2 pi t)) / 2,   0 <= s < 1,

has winding +1 (anticlockwise) when |eps0| < |eps1| and s > 0; the pumped charge is counted positive from left to
right (towards +x, as in physics.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atompump.errors import GapClosedError

__all__ = ["DotLoop", "scattering_matrix", "brouwer_charges", "winding_number", "dot_occupation", "DotPumpResult",
           "dot_pump"]


@dataclass(frozen=True)
class DotLoop:
    """The loop ``eps = eps0 + eps1 cos(2 pi t)``, ``Gamma_{L,R} = Gamma (1 +- asymmetry sin(2 pi t)) / 2``.

    Attributes
    ----------
    eps0, eps1 : float
        Centre and amplitude of the level (energy unit of ``gamma``).
    gamma : float
        Total tunnelling width Gamma_L + Gamma_R (> 0), the energy unit.
    asymmetry : float
        Amplitude s of the coupling asymmetry, ``-1 < s < 1``.
    """

    eps0: float = 0.0
    eps1: float = 20.0
    gamma: float = 1.0
    asymmetry: float = 0.98

    def __post_init__(self) -> None:
        for name in ("eps0", "eps1", "gamma", "asymmetry"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"quantum-dot loop parameter {name} must be finite")
        if self.gamma <= 0:
            raise ValueError(f"gamma must be positive (the total tunnelling width), got {self.gamma}")
        if not -1.0 < self.asymmetry < 1.0:
            raise ValueError(f"asymmetry must lie in (-1, 1) so both couplings stay positive, got {self.asymmetry}")

    def at(self, t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(eps, Gamma_L, Gamma_R)`` at loop times ``t`` (one cycle: 0..1)."""
        angle = 2 * np.pi * np.asarray(t, float)
        eps = self.eps0 + self.eps1 * np.cos(angle)
        half = 0.5 * self.gamma
        return eps, half * (1 + self.asymmetry * np.sin(angle)), half * (1 - self.asymmetry * np.sin(angle))


def scattering_matrix(eps, gamma_l, gamma_r) -> np.ndarray:
    """Breit–Wigner S matrix at the Fermi energy, shape ``eps.shape + (2, 2)`` (leads L, R)."""
    eps, gamma_l, gamma_r = np.broadcast_arrays(*(np.asarray(v, float) for v in (eps, gamma_l, gamma_r)))
    w = np.stack([np.sqrt(gamma_l), np.sqrt(gamma_r)], axis=-1)
    denominator = -eps + 0.5j * (gamma_l + gamma_r)
    return np.eye(2) - 1j * w[..., :, None] * w[..., None, :] / denominator[..., None, None]


def dot_occupation(eps, gamma) -> np.ndarray:
    """Zero-temperature occupation of the broadened level, ``1/2 - arctan(2 eps / Gamma) / pi``."""
    return 0.5 - np.arctan(2 * np.asarray(eps, float) / gamma) / np.pi


def brouwer_charges(loop: DotLoop, *, n_t: int = 4000, t_start: float = 0.0,
                    t_stop: float = 1.0) -> tuple[float, float]:
    """Charges emitted into the left and right leads along the loop from ``t_start`` to ``t_stop``.

    Brouwer's formula integrated with the midpoint rule on at least ``n_t`` steps (more when needed to resolve the
    resonance, at least ~30 steps per level width; second order). Over a full cycle
    ``Q_L = -Q_R`` and ``Q_R`` is the charge pumped from left to right.
    """
    # resolve the resonance: the level sweeps its width Gamma in ~ Gamma / (2 pi |eps1|) of a cycle
    n_t = max(int(n_t), int(np.ceil(200.0 * abs(loop.eps1) / loop.gamma * abs(t_stop - t_start))))
    t = np.linspace(t_start, t_stop, n_t + 1)
    s = scattering_matrix(*loop.at(t))
    s_mid = scattering_matrix(*loop.at(0.5 * (t[1:] + t[:-1])))
    ds = np.diff(s, axis=0)
    dq = -np.imag(np.sum(np.conj(s_mid) * ds, axis=-1)) / (2 * np.pi)  # (n_t, lead a)
    q = dq.sum(axis=0)
    return float(q[0]), float(q[1])


def winding_number(loop: DotLoop, *, n_t: int = 4096) -> int:
    """Winding number of ``(eps, Gamma_L - Gamma_R)`` around the charge-degeneracy point (0, 0), anticlockwise +.

    Raises
    ------
    GapClosedError
        If the loop passes through the degeneracy point (the pumped charge is then not quantised even in the
        limit).
    """
    eps, gl, gr = loop.at(np.arange(n_t + 1) / n_t)
    z = eps + 1j * (gl - gr)
    if np.min(np.abs(z)) < 1e-9 * max(abs(loop.eps1), abs(loop.eps0), loop.gamma):
        raise GapClosedError("the quantum-dot loop passes through the charge-degeneracy point (eps = 0, "
                             "Gamma_L = Gamma_R): its winding number is undefined")
    return int(np.rint(np.sum(np.angle(z[1:] / z[:-1])) / (2 * np.pi)))


@dataclass(frozen=True)
class DotPumpResult:
    """Winding number, Brouwer charges per cycle and the loop's distance from the degeneracy point."""

    winding_number: int
    pumped_charge: float
    charge_into_left: float
    charge_into_right: float
    min_distance: float


def dot_pump(loop: DotLoop, *, n_t: int = 4000) -> DotPumpResult:
    """Pumped charge per cycle (left to right) by Brouwer's formula and the loop's winding number."""
    winding = winding_number(loop)
    q_l, q_r = brouwer_charges(loop, n_t=n_t)
    eps, gl, gr = loop.at(np.arange(n_t) / n_t)
    distance = float(np.min(np.hypot(eps, gl - gr)))
    return DotPumpResult(winding_number=winding, pumped_charge=q_r, charge_into_left=q_l, charge_into_right=q_r,
                         min_distance=distance)
