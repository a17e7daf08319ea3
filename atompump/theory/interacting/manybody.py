"""Many-body Chern numbers, gaps and Resta polarisation from exact eigenstates on a (theta, phi) torus.

For a Hamiltonian ``H(theta, phi)`` periodic in the twist theta and the pump phase phi (2 pi each), the lowest
``m`` eigenstates at every node of an ``n_theta x n_phi`` mesh give

- the Chern number of that (quasi-degenerate) ground-state manifold by Fukui–Hatsugai–Suzuki with non-Abelian
  links ``U_mu = det <Psi(n)|Psi(n + mu)>`` normalised (Fukui, Hatsugai & Suzuki, JPSJ 74, 1674 (2005); for the
  many-body twist: Niu, Thouless & Wu, PRB 31, 3372 (1985)). ``m = 1`` is the ordinary ground-state Chern number;
  the charge pumped per cycle by one state of a ``q``-fold manifold is ``C / q`` (Niu–Thouless–Wu averaging).
- the many-body gap ``E_m - E_{m-1}`` above the manifold at every node, and the splitting ``E_{m-1} - E_0``
  inside it.

The orientation is the one of :mod:`atompump.theory.berry` on the (k, phi) torus with theta in place of k, so that
with the twist on the bond that closes the ring (as in :func:`atompump.theory.rice_mele.real_space_hamiltonian`)
the sign is physics.md's (C > 0: particles move towards +x as phi increases; checked against the single-particle
Chern number at U = 0 in the tests).

The Resta polarisation (Resta, PRL 80, 1800 (1998)) of a state on a ring of length L (in cells) is
``P = arg z / (2 pi)``, ``z = <Psi| exp(2 pi i X / L) |Psi>``, ``X = sum_m x_m n_m`` (positions in cells); for a
manifold ``z = det(Psi^+ exp(2 pi i X / L) Psi)``. Following z over one cycle at fixed twist, its winding number
is the charge that crossed any cut of the ring: the pumped charge per cycle (integer while ``z`` never
vanishes; equal to the Chern number for rings long against the correlation length).

BLAS runs on one thread here (``threadpoolctl``): these matrices are small, and on a shared 2-core machine
threaded BLAS made a 400 x 400 ``eigh`` seven times slower. Eigensolver: dense ``eigh`` below ``dense_below`` states, else ``scipy.sparse.linalg.eigsh`` (Lanczos, smallest
algebraic) warm-started with the previous node's ground state along the twist (the fast path the benchmark
``benchmarks/interacting.py`` measures against cold starts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import eigsh

__all__ = ["lowest_states", "TorusResult", "torus_chern", "resta_winding", "ResultWinding"]


def lowest_states(h, m: int, *, v0: np.ndarray | None = None, dense_below: int = 120,
                  tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """The ``m + 1`` lowest eigenvalues and the ``m`` lowest eigenvectors of the Hermitian matrix ``h``.

    Returns
    -------
    energies : ndarray, shape (m + 1,)
    vectors : ndarray, shape (dimension, m)
    """
    dim = h.shape[0]
    k = min(m + 1, dim)
    if dim <= dense_below or k >= dim - 1:
        dense = h.toarray() if sp.issparse(h) else np.asarray(h)
        e, v = np.linalg.eigh(dense)
        return e[:k], v[:, :m]
    e, v = eigsh(h, k=k, which="SA", v0=v0, tol=tol, ncv=max(2 * k + 1, 20))
    order = np.argsort(e)
    return e[order], v[:, order[:m]]


def _link(a: np.ndarray, b: np.ndarray) -> complex:
    z = np.linalg.det(a.conj().T @ b) if a.ndim == 2 else np.vdot(a, b)
    return z / abs(z) if abs(z) > 0 else 1.0


@dataclass(frozen=True)
class TorusResult:
    """Chern number and gaps of the lowest ``m`` many-body states over the (theta, phi) torus.

    Attributes
    ----------
    chern_number : int
        Total Chern number of the manifold (rounded FHS sum).
    chern_raw : float
        The FHS sum before rounding (an integer to rounding error when the mesh resolves the curvature).
    manifold : int
        m, the number of states in the manifold.
    min_gap : float
        Minimum over the mesh of ``E_m - E_{m-1}`` (energy unit of the Hamiltonian).
    max_splitting : float
        Maximum over the mesh of ``E_{m-1} - E_0`` (0 for m = 1).
    gap : ndarray, shape (n_theta, n_phi)
        ``E_m - E_{m-1}`` at every node.
    energies : ndarray, shape (n_theta, n_phi, m + 1)
    curvature : ndarray, shape (n_theta, n_phi)
        Berry flux per plaquette (rad).
    dimension : int
    """

    chern_number: int
    chern_raw: float
    manifold: int
    min_gap: float
    max_splitting: float
    gap: np.ndarray
    energies: np.ndarray
    curvature: np.ndarray
    dimension: int

    @property
    def charge_per_state(self) -> float:
        """Charge pumped per cycle by one state of the manifold, ``C / m``."""
        return self.chern_number / self.manifold


def torus_chern(hamiltonian: Callable[[float, float], object], *, n_theta: int = 8, n_phi: int = 24, m: int = 1,
                warm_start: bool = True, dense_below: int = 120) -> TorusResult:
    """Many-body Chern number of the lowest ``m`` states of ``hamiltonian(theta, phi)`` over the torus.

    Parameters
    ----------
    hamiltonian : callable
        ``(theta, phi) -> Hermitian matrix`` (sparse or dense), 2 pi periodic in both.
    n_theta, n_phi : int, keyword-only
        Mesh (nodes at ``2 pi j / n``). The FHS sum is integer for any mesh; it equals the Chern number once
        the Berry flux through every plaquette is below pi (``chern_raw`` then sits on an integer).
    m : int, keyword-only
        States in the manifold (non-Abelian links for m > 1).
    warm_start : bool, keyword-only
        Start Lanczos at each node from the previous node's ground state.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _torus_chern(hamiltonian, n_theta, n_phi, m, warm_start, dense_below)


def _torus_chern(hamiltonian, n_theta: int, n_phi: int, m: int, warm_start: bool, dense_below: int) -> TorusResult:
    thetas = 2 * np.pi * np.arange(n_theta) / n_theta
    phis = 2 * np.pi * np.arange(n_phi) / n_phi
    energies = np.empty((n_theta, n_phi, m + 1))
    first_row = prev_row = None
    curvature = np.empty((n_theta, n_phi))
    dimension = 0

    def row(j: int) -> list[np.ndarray]:
        nonlocal dimension
        states, v0 = [], None
        for i, t in enumerate(thetas):
            h = hamiltonian(t, phis[j])
            dimension = h.shape[0]
            e, v = lowest_states(h, m, v0=v0 if warm_start else None, dense_below=dense_below)
            energies[i, j, :e.size] = e
            v0 = v[:, 0]
            states.append(v if m > 1 else v[:, 0])
        return states

    def plaquettes(lower: list[np.ndarray], upper: list[np.ndarray], j: int) -> None:
        for i in range(n_theta):
            i2 = (i + 1) % n_theta
            u1 = _link(lower[i], lower[i2])
            u2 = _link(lower[i2], upper[i2])
            u3 = _link(upper[i], upper[i2])
            u4 = _link(lower[i], upper[i])
            curvature[i, j] = np.angle(u1 * u2 * np.conj(u3) * np.conj(u4))

    for j in range(n_phi):
        current = row(j)
        if prev_row is None:
            first_row = current
        else:
            plaquettes(prev_row, current, j - 1)
        prev_row = current
    plaquettes(prev_row, first_row, n_phi - 1)
    raw = float(curvature.sum() / (2 * np.pi))
    gap = energies[..., m] - energies[..., m - 1]
    return TorusResult(chern_number=int(np.rint(raw)), chern_raw=raw, manifold=m, min_gap=float(gap.min()),
                       max_splitting=float((energies[..., m - 1] - energies[..., 0]).max()), gap=gap,
                       energies=energies, curvature=curvature, dimension=dimension)


@dataclass(frozen=True)
class ResultWinding:
    """Resta polarisation over one cycle at fixed twist.

    Attributes
    ----------
    pumped_charge : int
        Winding number of z over the cycle (particles across any cut per cycle, towards +x positive).
    polarisation : ndarray, shape (n_phi + 1,)
        ``arg z / 2 pi`` made continuous, from phi = 0 to 2 pi (its total change is ``pumped_charge``).
    min_abs_z : float
        Smallest |z| on the way (the winding is meaningful while this stays well above 0).
    """

    pumped_charge: int
    polarisation: np.ndarray
    min_abs_z: float


def resta_winding(hamiltonian: Callable[[float, float], object], positions: np.ndarray, length: float, *,
                  n_phi: int = 64, m: int = 1, theta: float = 0.0, dense_below: int = 120) -> ResultWinding:
    """Charge pumped per cycle from the winding of Resta's ``z`` for the lowest ``m`` states.

    Parameters
    ----------
    hamiltonian : callable
        ``(theta, phi) -> matrix``.
    positions : ndarray, shape (dimension,)
        ``X = sum_m x_m n_m`` of every basis state, in cells.
    length : float
        Ring length L in cells.
    n_phi : int, keyword-only
        Steps over the cycle (fine enough that ``arg z`` moves by less than pi per step).
    """
    from threadpoolctl import threadpool_limits

    phase = np.exp(2j * np.pi * np.asarray(positions, float) / length)
    zs = []
    v0 = None
    with threadpool_limits(limits=1, user_api="blas"):
        for phi in 2 * np.pi * np.arange(n_phi + 1) / n_phi:
            _, v = lowest_states(hamiltonian(theta, phi), m, v0=v0, dense_below=dense_below)
            v0 = v[:, 0]
            zs.append(np.linalg.det(v.conj().T @ (phase[:, None] * v)))
    zs = np.asarray(zs)
    pol = np.unwrap(np.angle(zs)) / (2 * np.pi)
    return ResultWinding(pumped_charge=int(np.rint(pol[-1] - pol[0])), polarisation=pol - pol[0],
                         min_abs_z=float(np.abs(zs).min()))
