"""Quantum geometry over the (k, phi) torus: the Fubini–Study metric and the Wannier spread.

The quantum (Fubini–Study) metric of a band (or band group with projector P) is
``g_mu,nu = Re Tr[ dP/dmu (1 - P) dP/dnu ]``; for one band ``g = Re <d_mu u|(1 - |u><u|)|d_nu u>``. On a mesh it
follows, gauge invariantly, from the fidelity of neighbouring states: with ``D(a, b) = n - sum |<a_m|b_l>|^2``
(n bands), ``D(u(x), u(x + delta)) = g_mu,nu delta^mu delta^nu + O(delta^4)`` when centred on the midpoint. All
three components are returned at the plaquette centres (like the plaquette Berry curvature of
:mod:`atompump.theory.berry`), accurate to second order in the mesh spacing.

For a two-level Hamiltonian ``H = d . sigma`` the metric is ``g = (1/4) d_mu d^ . d_nu d^`` and
``sqrt(det g) = |Omega| / 2`` exactly (Omega the Berry curvature), a closed form the tests use.

The gauge-invariant part of the Wannier spread (Marzari & Vanderbilt, Phys. Rev. B 56, 12847 (1997)) is the
metric integrated over the Brillouin zone, ``Omega_I = (a / 2 pi) int dk g_kk``, discretised as
``(1 / N) sum_k D(u_k, u_{k+b}) / b^2``; in one dimension it is the spread of the maximally localised Wannier
function of a single band, i.e. the variance <x^2> - <x>^2 of the position of a particle prepared in it. Its
value along the cycle gives the width that the pumped distribution keeps on top of its mean displacement
(the "quantum jitter" of the seed).

References: Provost & Vallee, Commun. Math. Phys. 76, 289 (1980); Resta, Eur. Phys. J. B 79, 121 (2011);
Marzari et al., Rev. Mod. Phys. 84, 1419 (2012).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fidelity_distance", "quantum_metric", "wannier_spread"]


def fidelity_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``n - sum_ml |<a_m|b_l>|^2`` for one band (..., basis) or a group (..., basis, n); 0 for equal states."""
    if a.ndim == 4:
        overlap = np.einsum("...im,...il->...ml", a.conj(), b)
        return a.shape[-1] - np.sum(np.abs(overlap) ** 2, axis=(-2, -1))
    return 1.0 - np.abs(np.einsum("...m,...m->...", a.conj(), b)) ** 2


def quantum_metric(u: np.ndarray, *, dk: float, dphi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fubini–Study metric of one band (or group) at the plaquette centres of a closed (k, phi) mesh.

    Parameters
    ----------
    u : ndarray, shape (n_k + 1, n_phi + 1, basis) or (n_k + 1, n_phi + 1, basis, n)
        Closed mesh in the periodic gauge (see :mod:`atompump.theory.berry`).
    dk, dphi : float, keyword-only
        Mesh spacings (dk in 1/um gives g_kk in um^2).

    Returns
    -------
    g_kk, g_phiphi, g_kphi : ndarray, shape (n_k, n_phi)
        Units: 1/dk^2, 1/dphi^2 and 1/(dk dphi).
    """
    d_k = fidelity_distance(u[:-1], u[1:])  # (n_k, n_phi + 1): links along k
    d_phi = fidelity_distance(u[:, :-1], u[:, 1:])  # (n_k + 1, n_phi)
    d_up = fidelity_distance(u[:-1, :-1], u[1:, 1:])  # (n_k, n_phi): diagonal (+dk, +dphi)
    d_down = fidelity_distance(u[:-1, 1:], u[1:, :-1])  # (+dk, -dphi)
    g_kk = 0.5 * (d_k[:, :-1] + d_k[:, 1:]) / dk**2
    g_pp = 0.5 * (d_phi[:-1] + d_phi[1:]) / dphi**2
    g_kp = (d_up - d_down) / (4.0 * dk * dphi)
    return g_kk, g_pp, g_kp


def wannier_spread(u: np.ndarray, *, lattice_constant: float = 1.0) -> np.ndarray:
    """Gauge-invariant Wannier spread Omega_I at each phi of the mesh (variance, lattice_constant^2).

    Parameters
    ----------
    u : ndarray, shape (n_k + 1, n_phi + 1, basis) or with a band axis
    lattice_constant : float, keyword-only

    Returns
    -------
    ndarray, shape (n_phi + 1,)
        ``Omega_I = (1/N) sum_k D(u_k, u_{k+b}) / b^2`` with ``b = 2 pi / (N a)``; for a single band in one
        dimension, the variance of the maximally localised Wannier function.
    """
    n_k = u.shape[0] - 1
    b = 2.0 * np.pi / (n_k * lattice_constant)
    return fidelity_distance(u[:-1], u[1:]).sum(axis=0) / (n_k * b**2)
