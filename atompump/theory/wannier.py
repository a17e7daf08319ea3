"""Maximally localised Wannier functions of the superlattice's lowest bands at fixed phi.

In one dimension the maximally localised Wannier functions (MLWFs) of an isolated group of bands are the
eigenfunctions of the band-projected position operator, and they follow from the Wilson loop along k
(Marzari & Vanderbilt, Phys. Rev. B 56, 12847 (1997), Sec. IV C; Marzari et al., Rev. Mod. Phys. 84, 1419 (2012)):

1. parallel-transport the Bloch vectors along k (each step's overlap matrix made Hermitian and positive by a
   singular-value decomposition);
2. diagonalise the unitary holonomy ``W`` that closes the loop: its eigenphases ``theta_a`` give the centres
   ``x_a = -theta_a / (2 pi) * dl`` and its eigenvectors the rotation to the individual Wannier functions;
3. spread each phase evenly over the loop, ``exp(i theta_a kappa)``, so the Bloch sums are smooth and periodic.

The phase of each Wannier function is fixed by making it real and positive at its centre. Tight-binding
parameters follow as ``H_ab(R) = <w_a(0)|H|w_b(R)> = 1/N sum_kappa exp(-i 2 pi kappa R) (U^+ E U)_ab``.
Positions are in units of dl (cell index R counts long-lattice cells towards +x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.linalg import schur

from atompump.theory.superlattice import SuperlatticeParams, bloch_states_at

__all__ = ["WannierGauge", "maximally_localised", "hopping_matrices", "wannier_functions", "superlattice_wannier_gauge"]


@dataclass
class WannierGauge:
    """Smooth, periodic Bloch vectors of a band group and their MLWF data at one phi.

    Attributes
    ----------
    kappa : ndarray, shape (n_k,)
        Open mesh ``i / n_k`` (units of 2 pi / dl).
    vectors : ndarray, shape (n_k, basis, n_w)
        Plane-wave coefficients of the smooth Bloch functions ``psi_a(kappa)`` (one column per Wannier function).
    rotation : ndarray, shape (n_k, n_bands, n_w)
        ``U(kappa)``: smooth vectors = band eigenvectors @ U.
    energies : ndarray, shape (n_k, n_bands)
    centres : ndarray, shape (n_w,)
        Wannier centres in units of dl, in [-1/2, 1/2), ascending.
    n_max : int
        Plane waves m = -n_max..n_max.
    """

    kappa: np.ndarray
    vectors: np.ndarray
    rotation: np.ndarray
    energies: np.ndarray
    centres: np.ndarray
    n_max: int

    def values(self, x: np.ndarray) -> np.ndarray:
        """Wannier functions of cell 0 at positions ``x`` (units of dl), shape (n_w, x.size), complex.

        ``w_a(x) = 1/N sum_kappa sum_m c_m,a(kappa) exp(i 2 pi (kappa + m) x)``, normalised to
        ``int |w|^2 dx = 1`` with x in units of dl.
        """
        x = np.asarray(x, float)
        m = np.arange(-self.n_max, self.n_max + 1)
        phase = np.exp(2j * np.pi * (self.kappa[:, None, None] + m[None, :, None]) * x[None, None, :])  # k, m, x
        return np.einsum("kma,kmx->ax", self.vectors, phase) / self.kappa.size


def maximally_localised(kappa: np.ndarray, energies: np.ndarray, vectors: np.ndarray, *, n_max: int) -> WannierGauge:
    """MLWFs of one band group at fixed phi from its Bloch vectors on a closed kappa mesh.

    Parameters
    ----------
    kappa : ndarray, shape (n_k + 1,)
        Closed mesh ``0 .. 1``.
    energies : ndarray, shape (n_k + 1, n_bands)
    vectors : ndarray, shape (n_k + 1, basis, n_bands)
        Eigenvectors (plane-wave coefficients); ``vectors[-1]`` is ``vectors[0]`` shifted by one plane wave
        (periodic gauge of :func:`atompump.theory.superlattice.bloch_states`).
    n_max : int, keyword-only

    Returns
    -------
    WannierGauge
    """
    n_k = kappa.size - 1
    u = vectors
    transported = np.empty_like(u[:-1])
    transported[0] = u[0]
    for i in range(1, n_k):
        a, _, bh = np.linalg.svd(transported[i - 1].conj().T @ u[i])
        transported[i] = u[i] @ (bh.conj().T @ a.conj().T)
    closing = transported[-1].conj().T @ u[-1]  # <V(n_k - 1)| tau V(0)>, with u[-1] = tau u[0] = tau V(0)
    a, _, bh = np.linalg.svd(closing)
    holonomy = a @ bh
    t, q = schur(holonomy, output="complex")
    theta = np.angle(np.diag(t))
    order = np.argsort(-theta)  # ascending centres x = -theta / 2 pi
    theta, q = theta[order], q[:, order]
    smooth = np.einsum("kbn,nw,kw->kbw", transported, q, np.exp(1j * np.outer(np.arange(n_k) / n_k, theta)))
    rotation = np.einsum("kbn,kbw->knw", u[:-1].conj(), smooth)
    centres = -theta / (2.0 * np.pi)
    gauge = WannierGauge(kappa[:-1], smooth, rotation, energies[:-1], centres, n_max)
    at_centre = np.array([gauge.values(np.array([c]))[i, 0] for i, c in enumerate(centres)])
    fix = np.exp(-1j * np.angle(at_centre))
    gauge.vectors = smooth * fix
    gauge.rotation = rotation * fix
    return gauge


def hopping_matrices(gauge: WannierGauge, *, r_max: int = 2) -> np.ndarray:
    """Tight-binding matrices ``H_ab(R) = <w_a(0)|H|w_b(R)>`` for R = -r_max..r_max.

    Returns
    -------
    ndarray, shape (2 r_max + 1, n_w, n_w), complex
        Index ``R + r_max``; energy unit of the band energies (Er,s for the superlattice).
    """
    u = gauge.rotation
    hk = np.einsum("kna,kn,knb->kab", u.conj(), gauge.energies, u)
    r = np.arange(-r_max, r_max + 1)
    phase = np.exp(-2j * np.pi * np.outer(r, gauge.kappa))
    return np.einsum("rk,kab->rab", phase, hk) / gauge.kappa.size


def superlattice_wannier_gauge(params: SuperlatticeParams, phi: float, *, bands=(0, 1), n_k: int = 32,
                       n_max: int = 10) -> WannierGauge:
    """MLWFs of a group of the superlattice's lowest bands at one phi (zero-based band indices)."""
    bands = list(bands)
    kappa, energies, vectors = bloch_states_at(params, phi, n_k=n_k, n_bands=max(bands) + 1, n_max=n_max)
    return maximally_localised(kappa, energies[:, bands], vectors[..., bands], n_max=n_max)


def wannier_functions(params: SuperlatticeParams, phi: float = 0.0, *, bands=(0, 1), n_k: int = 32,
                      n_max: int = 10, cells: float = 1.5, points_per_cell: int = 128) -> xr.Dataset:
    """Maximally localised Wannier functions of a band group of the superlattice at one phi, in real space.

    Parameters
    ----------
    params : SuperlatticeParams
    phi : float
        Superlattice phase (rad).
    bands : sequence of int, keyword-only
        Zero-based band indices (default the two lowest, whose MLWFs are the double-well site orbitals).
    n_k, n_max : int, keyword-only
        k mesh and plane-wave cut-off.
    cells : float, keyword-only
        The x grid spans ``-cells .. cells`` long-lattice constants.
    points_per_cell : int, keyword-only

    Returns
    -------
    xarray.Dataset
        ``wannier_function`` (wannier, x) in um^-1/2 (real: the imaginary part is dropped after checking it is
        negligible), ``centre`` (wannier) and ``spread`` (wannier, RMS width) in um, ``potential`` (x) in Er,s;
        coordinate ``x`` in um.
    """
    gauge = superlattice_wannier_gauge(params, phi, bands=bands, n_k=n_k, n_max=n_max)
    dl = params.dl_um
    x = np.linspace(-cells, cells, int(2 * cells * points_per_cell) + 1)
    w = gauge.values(x)
    imag = np.abs(w.imag).max() / np.abs(w).max()
    if imag > 1e-4:
        raise ArithmeticError(f"Wannier functions at phi = {phi:.3f} are not real (relative imaginary part {imag:.1e})")
    w = w.real / np.sqrt(dl)
    xu = x * dl
    dx = xu[1] - xu[0]
    weight = w**2 * dx
    mean = weight @ xu
    spread = np.sqrt(np.maximum(weight @ xu**2 - mean**2, 0.0))
    potential = params.Vs_Er * np.cos(2 * np.pi * x) ** 2 + params.Vl_in_Ers * np.sin(np.pi * x - phi / 2) ** 2
    return xr.Dataset(
        {
            "wannier_function": (("wannier", "x"), w,
                                 {"units": "um-1/2", "long_name": "maximally localised Wannier function"}),
            "centre": ("wannier", gauge.centres * dl, {"units": "um", "long_name": "Wannier centre (Wilson loop)"}),
            "spread": ("wannier", spread, {"units": "um", "long_name": "RMS width of the Wannier function"}),
            "potential": ("x", potential, {"units": "Er,s", "long_name": "superlattice potential"}),
        },
        coords={"wannier": ("wannier", np.arange(len(list(bands)))), "x": ("x", xu, {"units": "um"})},
        attrs={"phi": float(phi), "bands": [b + 1 for b in bands], "dl_um": dl},
    )
