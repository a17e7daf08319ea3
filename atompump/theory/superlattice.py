"""Bloch bands of the one-dimensional optical superlattice by plane-wave expansion.

The potential (Lohse et al., Nat. Phys. 12, 350 (2016); conventions in ``physics.md``)::

    V(x, phi) = Vs cos^2(pi x / ds) + Vl sin^2(pi x / dl - phi / 2),    dl = 2 ds,

with ``Vs`` in units of the short-lattice recoil ``Er,s = h^2 / (8 m ds^2)`` and ``Vl`` in units of the
long-lattice recoil ``Er,l = Er,s / 4``. Increasing ``phi`` by 2 pi moves the long lattice by ``dl`` towards +x.

Energies are returned in units of Er,s. Quasi-momentum is ``kappa = k dl / (2 pi)`` in [0, 1). In the basis
``exp(i 2 pi (kappa + m) x / dl)``, m = -M..M, the kinetic energy is ``(kappa + m)^2 Er,s``; the short lattice
couples m to m +- 2 with ``Vs / 4`` and the long lattice couples m to m +- 1 with ``-Vl' / 4 exp(-+ i phi)``
(``Vl' = Vl / 4`` in Er,s).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from atompump.constants import SPECIES, recoil_energy_hz
from atompump.errors import ParameterError

__all__ = ["SuperlatticeParams", "hamiltonian", "bloch_states", "bloch_states_at", "converged_n_max"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuperlatticeParams:
    """Parameters of the superlattice.

    Attributes
    ----------
    Vs_Er : float
        Short-lattice depth in its own recoil energy Er,s (>= 0).
    Vl_Er : float
        Long-lattice depth in its own recoil energy Er,l (>= 0).
    lambda_l_nm : float
        Long-lattice wavelength in nm; ``dl = lambda_l / 2`` and ``ds = dl / 2``.
    mass_amu : float
        Atomic mass in u (default Rb-87).
    """

    Vs_Er: float = 10.0
    Vl_Er: float = 20.0
    lambda_l_nm: float = 1534.0
    mass_amu: float = SPECIES["Rb87"].mass_amu

    def __post_init__(self) -> None:
        for name in ("Vs_Er", "Vl_Er"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite depth >= 0, got {value}")
        for name in ("lambda_l_nm", "mass_amu"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")

    @property
    def dl_um(self) -> float:
        """Long-lattice constant dl = lambda_l / 2 in um (the displacement of one pump cycle)."""
        return self.lambda_l_nm / 2.0 * 1e-3

    @property
    def ds_um(self) -> float:
        """Short-lattice constant ds = dl / 2 in um."""
        return self.dl_um / 2.0

    @property
    def Vl_in_Ers(self) -> float:
        """Long-lattice depth in units of Er,s (= Vl_Er / 4)."""
        return self.Vl_Er / 4.0

    @property
    def recoil_s_hz(self) -> float:
        """Short-lattice recoil energy Er,s / h in Hz."""
        return recoil_energy_hz(lattice_constant_nm=self.ds_um * 1e3, mass_amu=self.mass_amu)


def hamiltonian(kappa: np.ndarray, phi: np.ndarray, params: SuperlatticeParams, *, n_max: int) -> np.ndarray:
    """Plane-wave Hamiltonian matrices in units of Er,s.

    Parameters
    ----------
    kappa : array_like
        Quasi-momenta in units of 2 pi / dl (any shape, broadcast against ``phi``).
    phi : array_like
        Superlattice phases in rad.
    params : SuperlatticeParams
    n_max : int, keyword-only
        Plane waves m = -n_max..n_max are kept (basis size 2 n_max + 1).

    Returns
    -------
    ndarray, shape broadcast(kappa, phi).shape + (2 n_max + 1, 2 n_max + 1), complex
    """
    if n_max < 2:
        raise ValueError(f"n_max must be at least 2, got {n_max}")
    kappa, phi = np.broadcast_arrays(np.asarray(kappa, float), np.asarray(phi, float))
    m = np.arange(-n_max, n_max + 1)
    size = m.size
    vs = params.Vs_Er
    vl = params.Vl_in_Ers
    h = np.zeros(kappa.shape + (size, size), dtype=complex)
    diag = (kappa[..., None] + m) ** 2 + vs / 2.0 + vl / 2.0
    idx = np.arange(size)
    h[..., idx, idx] = diag
    h[..., idx[:-2], idx[2:]] = vs / 4.0
    h[..., idx[2:], idx[:-2]] = vs / 4.0
    coupling = -vl / 4.0 * np.exp(-1j * phi)[..., None]  # <m+1|V|m>
    h[..., idx[1:], idx[:-1]] = coupling
    h[..., idx[:-1], idx[1:]] = np.conj(coupling)
    return h


def bloch_states(
    params: SuperlatticeParams,
    *,
    n_k: int,
    n_phi: int,
    n_bands: int,
    n_max: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Energies and periodic Bloch vectors on a closed (kappa, phi) mesh.

    The mesh is ``kappa_i = i / n_k`` (i = 0..n_k) and ``phi_j = 2 pi j / n_phi`` (j = 0..n_phi); the last row
    and column close the torus in the periodic gauge: ``u(kappa + 1) = exp(-i 2 pi x / dl) u(kappa)`` (the
    plane-wave coefficients shift by one) and ``u(phi + 2 pi) = u(phi)``.

    Returns
    -------
    kappa : ndarray, shape (n_k + 1,)
    phi : ndarray, shape (n_phi + 1,)
    energies : ndarray, shape (n_k + 1, n_phi + 1, n_bands), in Er,s
    vectors : ndarray, shape (n_k + 1, n_phi + 1, 2 n_max + 1, n_bands), complex
    """
    if n_k < 3 or n_phi < 3:
        raise ValueError(f"the mesh needs at least 3 points per direction, got n_k={n_k}, n_phi={n_phi}")
    size = 2 * n_max + 1
    if not 1 <= n_bands <= size - 4:
        raise ValueError(f"n_bands must be between 1 and {size - 4} for n_max={n_max}, got {n_bands}")
    kappa = np.arange(n_k + 1) / n_k
    phi = 2.0 * np.pi * np.arange(n_phi + 1) / n_phi
    kk, pp = np.meshgrid(kappa[:-1], phi[:-1], indexing="ij")
    e, v = np.linalg.eigh(hamiltonian(kk, pp, params, n_max=n_max))
    energies = np.empty((n_k + 1, n_phi + 1, n_bands))
    vectors = np.zeros((n_k + 1, n_phi + 1, size, n_bands), dtype=complex)
    energies[:-1, :-1] = e[..., :n_bands]
    vectors[:-1, :-1] = v[..., :n_bands]
    energies[:-1, -1] = energies[:-1, 0]
    vectors[:-1, -1] = vectors[:-1, 0]
    energies[-1] = energies[0]
    vectors[-1] = _shift_closure(vectors[0])  # c_m(kappa + 1) = c_{m+1}(kappa)
    return kappa, phi, energies, vectors


def _shift_closure(vectors_at_zero: np.ndarray) -> np.ndarray:
    """Periodic-gauge vectors at kappa = 1 from those at kappa = 0: c_m(kappa + 1) = c_{m+1}(kappa)."""
    closed = np.zeros_like(vectors_at_zero)
    closed[..., :-1, :] = vectors_at_zero[..., 1:, :]
    return closed


def bloch_states_at(params: SuperlatticeParams, phi: float, *, n_k: int, n_bands: int,
                    n_max: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies and periodic-gauge Bloch vectors on a closed kappa mesh at one phase.

    Returns
    -------
    kappa : ndarray, shape (n_k + 1,)
        ``i / n_k``, i = 0..n_k.
    energies : ndarray, shape (n_k + 1, n_bands), in Er,s
    vectors : ndarray, shape (n_k + 1, 2 n_max + 1, n_bands), complex
        ``vectors[-1]`` is ``vectors[0]`` shifted by one plane wave (see :func:`bloch_states`).
    """
    if n_k < 3:
        raise ValueError(f"the mesh needs at least 3 k points, got n_k={n_k}")
    kappa = np.arange(n_k + 1) / n_k
    e, v = np.linalg.eigh(hamiltonian(kappa[:-1], np.full(n_k, float(phi)), params, n_max=n_max))
    energies = np.concatenate([e[:, :n_bands], e[:1, :n_bands]])
    vectors = np.concatenate([v[..., :n_bands], _shift_closure(v[:1, :, :n_bands])])
    return kappa, energies, vectors


def converged_n_max(params: SuperlatticeParams, *, n_bands: int, start: int = 10, tolerance: float = 1e-7,
                    largest: int = 60) -> tuple[int, float]:
    """Smallest plane-wave cut-off (from ``start`` up, in steps of 2) at which the bands are converged.

    The lowest ``n_bands`` energies at kappa in {0, 1/4, 1/2} and phi in {0, pi/4, pi/2, pi} are compared
    between ``n_max`` and ``n_max + 2``; the basis is converged when they differ by less than ``tolerance``
    (Er,s). Plane-wave expansions converge exponentially once ``n_max^2`` exceeds the lattice depth.

    Returns
    -------
    n_max : int
    change : float
        The largest energy change (Er,s) of the last step.

    Raises
    ------
    ParameterError
        If ``largest`` is reached first (an extremely deep lattice); names ``n_max`` (the theory stage:
        ``theory.n_max``).
    """
    kappa = np.array([0.0, 0.25, 0.5])
    phi = np.array([0.0, np.pi / 4, np.pi / 2, np.pi])
    kk, pp = np.meshgrid(kappa, phi, indexing="ij")

    def lowest(n: int) -> np.ndarray:
        return np.linalg.eigvalsh(hamiltonian(kk, pp, params, n_max=n))[..., :n_bands]

    n = max(int(start), 2, (n_bands + 5) // 2)
    previous = lowest(n)
    while True:
        current = lowest(n + 2)
        change = float(np.abs(current - previous).max())
        if change < tolerance:
            if n != start:
                log.info("plane-wave basis converged at n_max = %d (energy change %.1e Er,s)", n, change)
            return n, change
        if n + 2 > largest:
            raise ParameterError(
                f"the plane-wave basis is not converged at {{n_max}} = {n} (the lowest {n_bands} energies still "
                f"change by {change:.2g} Er,s): Vs = {params.Vs_Er} Er,s is too deep for {{n_max}} <= {largest}",
                parameters=("n_max",)
            )
        n += 2
        previous = current
