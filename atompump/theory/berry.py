"""Berry curvature, Chern numbers and hybrid Wannier centres from Bloch vectors on a (k, phi) mesh.

Chern numbers follow Fukui, Hatsugai and Suzuki, J. Phys. Soc. Jpn. 74, 1674 (2005): with normalised link
variables ``U_mu(n) = <u(n)|u(n + mu)> / |...|`` the lattice field strength of a plaquette is
``F = arg(U_k(n) U_phi(n + k) / (U_k(n + phi) U_phi(n)))`` and ``C = sum(F) / (2 pi)``, an integer for any mesh
finer than the curvature's features. For a group of bands that touch each other (but are separated from the
rest), the links are ``det(<u_m(n)|u_l(n + mu)>)`` normalised (the non-Abelian version of the same paper), which
gives the group's total Chern number.

Hybrid Wannier centres at fixed phi come from the Berry phase along k (the Wilson loop),
``x(phi) = -dl / (2 pi) * arg prod_k <u(k)|u(k + dk)>``; made continuous in phi, their drift over one cycle is
``C * dl``. With the periodic gauge of :mod:`atompump.theory.superlattice` (or a Bloch Hamiltonian periodic in
k) both give the sign of ``physics.md``: C > 0 when the centre moves towards +x as phi increases.

Array conventions: one band is ``u[i_k, i_phi, basis]`` and a group of bands is ``u[i_k, i_phi, basis, band]``,
both on a *closed* mesh (the last row/column is the first one in the periodic gauge), so a mesh of
``n_k x n_phi`` plaquettes has shape ``(n_k + 1, n_phi + 1, ...)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "link_variables",
    "berry_curvature",
    "chern_number",
    "wannier_centres",
    "torus_states",
    "band_groups",
    "group_vectors",
]


def _overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """<a|b> over the last axis for one band; det(<a_m|b_l>) for a band group (one more axis)."""
    if a.ndim == 4:  # (.., .., basis, band): group of bands
        return np.linalg.det(np.einsum("...im,...il->...ml", a.conj(), b))
    return np.einsum("...m,...m->...", a.conj(), b)


def group_vectors(vectors: np.ndarray, bands) -> np.ndarray:
    """The Bloch vectors of a group of bands, for the functions here (determinant links).

    Parameters
    ----------
    vectors : ndarray, shape (n_k + 1, n_phi + 1, basis, n_bands)
    bands : sequence of int
        Zero-based indices of the bands of the group (e.g. ``[1, 2]``).

    Returns
    -------
    ndarray, shape (n_k + 1, n_phi + 1, basis, len(bands))
    """
    return vectors[..., list(bands)]


def _links(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = np.asarray(_overlaps(a, b))
    norm = np.abs(z)
    if np.any(norm < 1e-12):
        raise ArithmeticError("vanishing overlap between neighbouring Bloch states: refine the mesh")
    return z / norm


def link_variables(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Link variables of one band (or one band group, see :func:`group_vectors`) on a closed mesh.

    Parameters
    ----------
    u : ndarray, shape (n_k + 1, n_phi + 1, basis) or (n_k + 1, n_phi + 1, basis, n) for a group
        Bloch vectors with the last row/column equal to the first (periodic gauge).

    Returns
    -------
    u_k : ndarray, shape (n_k, n_phi + 1)
    u_phi : ndarray, shape (n_k + 1, n_phi)
    """
    return _links(u[:-1], u[1:]), _links(u[:, :-1], u[:, 1:])


def berry_curvature(u: np.ndarray) -> np.ndarray:
    """Plaquette Berry fluxes F (rad) of one band or group, shape (n_k, n_phi); ``F.sum() / (2 pi)`` is C.

    Dividing by the plaquette area ``dk dphi`` gives the Berry curvature Omega_{k phi} at the plaquette centre.
    """
    u_k, u_phi = link_variables(u)
    return np.angle(u_k[:, :-1] * u_phi[1:, :] / (u_k[:, 1:] * u_phi[:-1, :]))


def chern_number(u: np.ndarray) -> float:
    """Chern number (float, integer up to rounding) of one band or group, by Fukui–Hatsugai–Suzuki."""
    return float(berry_curvature(u).sum() / (2.0 * np.pi))


def wannier_centres(u: np.ndarray, *, lattice_constant: float = 1.0) -> np.ndarray:
    """Hybrid Wannier centre of one band (or the summed centres of a group) at each phi, continuous in phi.

    Parameters
    ----------
    u : ndarray, shape (n_k + 1, n_phi + 1, basis) or (n_k + 1, n_phi + 1, basis, n)
    lattice_constant : float, keyword-only
        Unit of the result (dl in um gives um).

    Returns
    -------
    ndarray, shape (n_phi + 1,)
        The centre at each phi; ``x[-1] - x[0]`` is ``C * lattice_constant``. The absolute position is that of
        the gauge of ``u``: with the plane-wave vectors of :mod:`atompump.theory.superlattice` it is the
        physical position (mod the lattice constant); with a tight-binding Bloch Hamiltonian that ignores the
        orbital positions, it is shifted by a phi-independent constant.
    """
    u_k, _ = link_variables(u)
    phase = -np.angle(np.prod(u_k, axis=0))
    return np.unwrap(phase) / (2.0 * np.pi) * lattice_constant


def torus_states(
    hamiltonian: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    n_k: int,
    n_phi: int,
    k_closure: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eigen-energies and eigenvectors of a Bloch Hamiltonian on a closed (k, phi) mesh.

    Parameters
    ----------
    hamiltonian : callable
        ``hamiltonian(k, phi)`` with broadcastable arrays ``k`` (rad per unit cell, in [0, 2 pi)) and ``phi``
        (rad) returns Hermitian matrices of shape ``k.shape + (n, n)``.
    n_k, n_phi : int, keyword-only
        Plaquettes along k and phi (at least 3 each).
    k_closure : callable, optional
        Maps the vectors at ``k = 0`` (shape (n_phi + 1, n, bands)) to the periodic-gauge vectors at
        ``k = 2 pi``. Default: the identity, right for Bloch Hamiltonians periodic in k ("convention I", orbital
        positions ignored), whose Chern numbers equal those with positions included.

    Returns
    -------
    k : ndarray, shape (n_k + 1,)
        ``2 pi i / n_k``.
    phi : ndarray, shape (n_phi + 1,)
        ``2 pi j / n_phi``.
    energies : ndarray, shape (n_k + 1, n_phi + 1, n)
    vectors : ndarray, shape (n_k + 1, n_phi + 1, n, n)
        ``vectors[i, j, :, b]`` is band b (ascending energy); the last row and column close the torus.
    """
    if n_k < 3 or n_phi < 3:
        raise ValueError(f"the mesh needs at least 3 points per direction, got n_k={n_k}, n_phi={n_phi}")
    k = 2.0 * np.pi * np.arange(n_k + 1) / n_k
    phi = 2.0 * np.pi * np.arange(n_phi + 1) / n_phi
    kk, pp = np.meshgrid(k[:-1], phi[:-1], indexing="ij")
    e, v = np.linalg.eigh(hamiltonian(kk, pp))
    n = e.shape[-1]
    energies = np.empty((n_k + 1, n_phi + 1, n))
    vectors = np.empty((n_k + 1, n_phi + 1) + v.shape[-2:], dtype=complex)
    energies[:-1, :-1] = e
    vectors[:-1, :-1] = v
    energies[:-1, -1] = e[:, 0]
    vectors[:-1, -1] = v[:, 0]
    energies[-1] = energies[0]
    vectors[-1] = vectors[0] if k_closure is None else k_closure(vectors[0])
    return k, phi, energies, vectors


def band_groups(min_gaps: np.ndarray, *, tolerance: float) -> list[list[int]]:
    """Split bands into groups separated by open gaps.

    Parameters
    ----------
    min_gaps : ndarray, shape (n_bands - 1,)
        Minimum direct gap between band n and n + 1 over the whole mesh.
    tolerance : float
        Gaps below this count as closed (the two bands then form one group).

    Returns
    -------
    list of lists of int
        Zero-based band indices, lowest group first; e.g. ``[[0], [1, 2], [3]]`` for a four-band spectrum
        whose middle bands touch.
    """
    groups = [[0]]
    for n, gap in enumerate(np.asarray(min_gaps)):
        if gap < tolerance:
            groups[-1].append(n + 1)
        else:
            groups.append([n + 1])
    return groups
