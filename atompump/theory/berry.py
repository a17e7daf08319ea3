"""Berry curvature, Chern numbers and hybrid Wannier centres from Bloch vectors on a (k, phi) mesh.

Chern numbers follow Fukui, Hatsugai and Suzuki, J. Phys. Soc. Jpn. 74, 1674 (2005): with normalised link
variables ``U_mu(n) = <u(n)|u(n + mu)> / |...|`` the lattice field strength of a plaquette is
``F = arg(U_k(n) U_phi(n + k) / (U_k(n + phi) U_phi(n)))`` and ``C = sum(F) / (2 pi)``, an integer for any mesh
finer than the curvature's features.

Hybrid Wannier centres at fixed phi come from the Berry phase along k (the Wilson loop),
``x(phi) = -dl / (2 pi) * arg prod_k <u(k)|u(k + dk)>``; made continuous in phi, their drift over one cycle is
``C * dl``. With the periodic gauge of :mod:`atompump.theory.superlattice` both give the sign of ``physics.md``:
C > 0 when the centre moves towards +x as phi increases.
"""

from __future__ import annotations

import numpy as np

__all__ = ["link_variables", "berry_curvature", "chern_number", "wannier_centres"]


def _links(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = np.einsum("...m,...m->...", a.conj(), b)
    norm = np.abs(z)
    if np.any(norm < 1e-12):
        raise ArithmeticError("vanishing overlap between neighbouring Bloch states: refine the mesh")
    return z / norm


def link_variables(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Link variables of one band on a closed mesh.

    Parameters
    ----------
    u : ndarray, shape (n_k + 1, n_phi + 1, basis)
        Bloch vectors with the last row/column equal to the first (periodic gauge).

    Returns
    -------
    u_k : ndarray, shape (n_k, n_phi + 1)
    u_phi : ndarray, shape (n_k + 1, n_phi)
    """
    return _links(u[:-1], u[1:]), _links(u[:, :-1], u[:, 1:])


def berry_curvature(u: np.ndarray) -> np.ndarray:
    """Plaquette Berry fluxes F (rad) of one band, shape (n_k, n_phi); ``F.sum() / (2 pi)`` is C."""
    u_k, u_phi = link_variables(u)
    return np.angle(u_k[:, :-1] * u_phi[1:, :] / (u_k[:, 1:] * u_phi[:-1, :]))


def chern_number(u: np.ndarray) -> float:
    """Chern number (float, integer up to rounding) of one band, by Fukui–Hatsugai–Suzuki."""
    return float(berry_curvature(u).sum() / (2.0 * np.pi))


def wannier_centres(u: np.ndarray, *, lattice_constant: float = 1.0) -> np.ndarray:
    """Hybrid Wannier centre of one band at each phi of the mesh, continuous in phi.

    Parameters
    ----------
    u : ndarray, shape (n_k + 1, n_phi + 1, basis)
    lattice_constant : float, keyword-only
        Unit of the result (dl in um gives um).

    Returns
    -------
    ndarray, shape (n_phi + 1,)
        The centre at each phi; ``x[-1] - x[0]`` is ``C * lattice_constant``.
    """
    u_k, _ = link_variables(u)
    phase = -np.angle(np.prod(u_k, axis=0))
    return np.unwrap(phase) / (2.0 * np.pi) * lattice_constant
