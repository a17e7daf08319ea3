"""The Aubry–André (Harper) chain as a pump, at rational modulation beta = p/q.

    H = -J sum_j (c_{j+1}^+ c_j + h.c.) + V sum_j cos(2 pi beta j + phi) n_j

With beta = p/q (coprime) the unit cell holds q sites (cell R: sites j = q R + s, s = 0..q-1) and there are q
bands. Sliding phi by 2 pi is a pump cycle; with the Fermi level in gap r (r bands filled) the charge pumped per
cycle (in units of the particle charge, through any cross-section, towards +x) is the sum of the filled bands'
Chern numbers, a topological gap label fixed by the Diophantine equation of Thouless et al. and Dana, Avron &
Zak (physics.md):

    r = q s_r + p t_r,  |t_r| <= q / 2,   pumped charge (gap r) = -t_r,   C_r = -(t_r - t_{r-1}).

The minus sign is this Hamiltonian's: with V > 0 the potential minima sit at 2 pi beta j + phi = pi, so for small
beta the lowest band is dragged towards -x as phi increases (C_1 = -1 for p = 1), and physics.md counts motion
towards +x as positive. For even q the central gap (r = q/2) always closes; the two central bands then form one
group with a single Chern number. The Hofstadter lattice (:mod:`atompump.theory.hofstadter`) is this chain with
V = -2J and phi = k_y.

References: Harper, Proc. Phys. Soc. A 68, 874 (1955); Aubry & André, Ann. Israel Phys. Soc. 3, 133 (1980);
Thouless, Kohmoto, Nightingale & den Nijs, Phys. Rev. Lett. 49, 405 (1982); Dana, Avron & Zak, J. Phys. C 18,
L679 (1985); Kraus et al., Phys. Rev. Lett. 109, 106402 (2012).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

import numpy as np

from atompump.theory.tight_binding import TorusTopology, gap_sums, torus_topology

__all__ = ["AubryAndreParams", "bloch_hamiltonian", "strip_hamiltonian", "diophantine_t", "diophantine_chern_numbers",
           "aubry_andre_topology", "pumped_charge_per_gap"]


def _check_pq(p: int, q: int) -> None:
    if int(q) != q or q < 1:
        raise ValueError(f"q must be a positive integer, got {q}")
    if int(p) != p or p < 1:
        raise ValueError(f"p must be a positive integer, got {p}")
    if gcd(int(p), int(q)) != 1:
        raise ValueError(f"p/q = {p}/{q} is not in lowest terms (gcd {gcd(int(p), int(q))}); give coprime p and q")


@dataclass(frozen=True)
class AubryAndreParams:
    """Hopping ``J``, modulation ``V`` (same energy unit) and ``beta = p / q``.

    ``q`` is also the number of bands; values above 24 are refused (the bands become exponentially thin).
    """

    J: float = 1.0
    V: float = 1.0
    p: int = 1
    q: int = 3

    def __post_init__(self) -> None:
        _check_pq(self.p, self.q)
        if self.q > 24:
            raise ValueError(f"q = {self.q} is too large (at most 24 bands are supported)")
        for name in ("J", "V"):
            value = float(getattr(self, name))
            if not np.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")
        if self.J == 0:
            raise ValueError("J must be non-zero (the energy unit)")

    @property
    def beta(self) -> float:
        return self.p / self.q


def bloch_hamiltonian(k, phi, params: AubryAndreParams) -> np.ndarray:
    """Bloch Hamiltonian of the q-site cell, shape ``broadcast(k, phi).shape + (q, q)`` (k in rad per cell)."""
    k, phi = np.broadcast_arrays(np.asarray(k, float), np.asarray(phi, float))
    q = params.q
    s = np.arange(q)
    h = np.zeros(k.shape + (q, q), dtype=complex)
    h[..., s, s] = params.V * np.cos(2 * np.pi * params.beta * s + phi[..., None])
    if q > 1:
        h[..., s[1:], s[:-1]] += -params.J
        h[..., s[:-1], s[1:]] += -params.J
    # bond from site q-1 of cell R to site 0 of cell R + 1: -J exp(i k) c_{0}^+ c_{q-1} in the Bloch basis
    h[..., 0, q - 1] += -params.J * np.exp(-1j * k)
    h[..., q - 1, 0] += -params.J * np.exp(1j * k)
    return h


def strip_hamiltonian(phi: float, n_sites: int, params: AubryAndreParams) -> np.ndarray:
    """Open chain of ``n_sites`` sites j = 0..n_sites-1 (real, symmetric), for edge states and spectral flow."""
    j = np.arange(n_sites)
    h = np.diag(params.V * np.cos(2 * np.pi * params.beta * j + phi)).astype(float)
    h[j[1:], j[:-1]] = -params.J
    h[j[:-1], j[1:]] = -params.J
    return h


def diophantine_t(p: int, q: int) -> list[int | None]:
    """Solutions t_r of r = q s_r + p t_r with |t_r| <= q/2, for r = 1..q-1 (None where two solutions exist).

    The ambiguous case is r = q/2 for even q, whose gap is closed.
    """
    _check_pq(p, q)
    out: list[int | None] = []
    for r in range(1, q):
        ts = [t for t in range(-(q // 2), q // 2 + 1) if (r - p * t) % q == 0]
        out.append(ts[0] if len(ts) == 1 else None)
    return out


def diophantine_chern_numbers(p: int, q: int) -> list[int | None]:
    """Band Chern numbers ``C_r = -(t_r - t_{r-1})`` (t_0 = t_q = 0) in this module's sign convention.

    Bands next to a closed gap get None.
    """
    t = [0] + diophantine_t(p, q) + [0]
    return [None if (t[r] is None or t[r - 1] is None) else -(t[r] - t[r - 1]) for r in range(1, q + 1)]


def aubry_andre_topology(params: AubryAndreParams, *, n_k: int = 16, n_phi: int = 48,
                         gap_tolerance: float = 1e-7) -> TorusTopology:
    """Chern numbers of the q bands (touching bands grouped) over the (k, phi) torus."""
    return torus_topology(lambda k, phi: bloch_hamiltonian(k, phi, params), n_k=n_k, n_phi=n_phi,
                          gap_tolerance=gap_tolerance * abs(params.J))


def pumped_charge_per_gap(topology: TorusTopology) -> list[int | None]:
    """Charge pumped per cycle (towards +x) for a Fermi level in each gap r = 1..q-1 (None: gap closed)."""
    return gap_sums(topology)
