"""Berry curvature and quantum metric on a (k, phi) mesh refined locally where they vary fast.

Near a small gap the Berry curvature and the quantum metric of the bands on either side are peaked: for the Lohse
lattice (Vs = 10 Er,s, Vl = 20 Er,l) the band 1-2 gap of 0.11 Er,s at k = pi/dl, phi = 0 and pi makes a peak
about 0.03 rad wide in phi (gap over the slope of the diabatic energy difference, 4.4 Er,s per rad) but about
3 rad wide in k. On the uniform 48 x 96 mesh that gives integer Chern numbers, the plaquette-averaged curvature
and the finite-difference metric then disagree at the peak by their O(h^2) discretisation errors, and the
pointwise inequality ``sqrt(det g) >= |Omega| / 2`` (which holds with equality for a two-level system) appears
violated by 4.5 %.

:func:`refined_geometry` starts from a uniform closed mesh and bisects, in k and in phi separately (a tensor-
product mesh stays a mesh of rectangles), every interval on either side of which a field (each band's
curvature and metric components, scaled as in :func:`_flags`) jumps by more than ``tolerance`` between
neighbouring plaquettes, until no jump exceeds it, ``max_levels`` bisection rounds are done or the mesh would grow
beyond ``max_cells_factor`` times its starting size. Only the new rows and columns of the mesh are
diagonalised. On the non-uniform mesh

* the Fukui–Hatsugai–Suzuki plaquette fluxes (:func:`atompump.theory.berry.berry_curvature`) still sum to
  ``2 pi C`` exactly (the sum telescopes on any closed mesh), so the curvature ``Omega = F / (dk dphi)`` integrates
  to the Chern number over the refined cells;
* the fidelity metric of :func:`atompump.theory.geometry.quantum_metric` holds for rectangles of any size
  (``D(+dk, +dphi) - D(+dk, -dphi) = 4 g_kphi dk dphi``), evaluated cell by cell with the cell's own spacings.

Both are plaquette-centred and second-order accurate in the local spacing, so refining where the fields vary
fast makes them accurate where they are large.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from atompump.theory.berry import berry_curvature
from atompump.theory.geometry import quantum_metric

__all__ = ["RefinedGeometry", "inequality_violation", "refine_intervals", "refined_geometry"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefinedGeometry:
    """Curvature and metric of several bands on a locally refined closed mesh (plaquette centred).

    Attributes
    ----------
    k_nodes : ndarray, shape (n_k + 1,)
        Mesh nodes along k, first to last (closed: the last is the first plus the Brillouin zone); unit of the
        ``states`` callable's k.
    phi_nodes : ndarray, shape (n_phi + 1,)
        Mesh nodes along phi (rad), from 0 to 2 pi.
    curvature : ndarray, shape (n_bands, n_k, n_phi)
        Berry curvature Omega_{k phi} (plaquette flux over plaquette area); units 1 / (k unit rad).
    g_kk, g_phiphi, g_kphi : ndarray, shape (n_bands, n_k, n_phi)
        Quantum metric components; units k unit^-2, 1, (k unit)^-1.
    levels : int
        Bisections done.
    """

    k_nodes: np.ndarray
    phi_nodes: np.ndarray
    curvature: np.ndarray
    g_kk: np.ndarray
    g_phiphi: np.ndarray
    g_kphi: np.ndarray
    levels: int

    @property
    def k_centres(self) -> np.ndarray:
        """Plaquette centres along k, shape (n_k,)."""
        return 0.5 * (self.k_nodes[:-1] + self.k_nodes[1:])

    @property
    def phi_centres(self) -> np.ndarray:
        """Plaquette centres along phi, shape (n_phi,)."""
        return 0.5 * (self.phi_nodes[:-1] + self.phi_nodes[1:])

    @property
    def areas(self) -> np.ndarray:
        """Plaquette areas dk dphi, shape (n_k, n_phi)."""
        return np.diff(self.k_nodes)[:, None] * np.diff(self.phi_nodes)[None, :]

    def chern_numbers(self) -> np.ndarray:
        """``sum Omega dk dphi / (2 pi)`` per band: the Chern numbers (integers to rounding), shape (n_bands,)."""
        return np.einsum("bij,ij->b", self.curvature, self.areas) / (2.0 * np.pi)

    def sqrt_det_g(self) -> np.ndarray:
        """``sqrt(g_kk g_phiphi - g_kphi^2)``, shape (n_bands, n_k, n_phi) (0 where rounding makes it negative)."""
        return np.sqrt(np.clip(self.g_kk * self.g_phiphi - self.g_kphi**2, 0.0, None))


def inequality_violation(curvature: np.ndarray, g_kk: np.ndarray, g_phiphi: np.ndarray,
                         g_kphi: np.ndarray) -> np.ndarray:
    """Largest violation of ``sqrt(det g) >= |Omega| / 2`` per band, relative to the band's largest ``|Omega| / 2``.

    Parameters
    ----------
    curvature, g_kk, g_phiphi, g_kphi : ndarray, shape (n_bands, ...)
        Plaquette-centred fields of each band (any mesh shape after the band axis).

    Returns
    -------
    ndarray, shape (n_bands,)
        ``max((|Omega| / 2 - sqrt(det g)) / max(|Omega| / 2))`` over the mesh; negative when the inequality holds
        everywhere with room to spare. The exact fields satisfy it (the quantum geometric tensor is positive
        semi-definite), so a positive value measures the discretisation error at the curvature's peaks.
    """
    half = 0.5 * np.abs(curvature)
    root = np.sqrt(np.clip(g_kk * g_phiphi - g_kphi**2, 0.0, None))
    axes = tuple(range(1, half.ndim))
    peak = np.maximum(half.max(axis=axes), np.finfo(float).tiny)
    return (half - root).max(axis=axes) / peak


def refine_intervals(fields: np.ndarray, axis: int, tolerance: float) -> np.ndarray:
    """Intervals along ``axis`` of a closed mesh to bisect: those beside a jump larger than ``tolerance``.

    Parameters
    ----------
    fields : ndarray, shape (n_fields, n_k, n_phi)
        Plaquette-centred fields, each normalised to a largest magnitude of 1.
    axis : int
        1 (k) or 2 (phi); the mesh is periodic along both.
    tolerance : float
        Largest accepted change between neighbouring plaquettes.

    Returns
    -------
    ndarray of bool, shape (fields.shape[axis],)
        True for the intervals to bisect (both plaquettes on either side of each large jump).
    """
    jump = np.abs(np.roll(fields, -1, axis=axis) - fields)  # between plaquette i and i + 1 (periodic)
    other = tuple(a for a in range(fields.ndim) if a != axis)
    big = jump.max(axis=other) > tolerance
    return big | np.roll(big, 1)


def _flags(curvature, g_kk, g_pp, g_kp, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Intervals along k and phi to bisect. Each band's g_kk and g_phiphi are normalised by their largest values,
    its curvature and g_kphi by ``sqrt(max g_kk max g_phiphi)`` (which bounds both: ``|Omega| <= 2 sqrt(det g)``,
    ``|g_kphi| <= sqrt(g_kk g_phiphi)``), so that a field that is zero up to rounding is not refined."""
    top_kk = g_kk.max(axis=(1, 2), keepdims=True)
    top_pp = g_pp.max(axis=(1, 2), keepdims=True)
    tiny = np.finfo(float).tiny
    cross = np.sqrt(np.maximum(top_kk * top_pp, tiny))
    fields = np.concatenate([curvature / (2.0 * cross), g_kk / np.maximum(top_kk, tiny),
                             g_pp / np.maximum(top_pp, tiny), g_kp / cross])
    return refine_intervals(fields, 1, tolerance), refine_intervals(fields, 2, tolerance)


def _bisect(nodes: np.ndarray, flagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes with the midpoints of the flagged intervals inserted, and a mask of the new ones."""
    mids = 0.5 * (nodes[:-1] + nodes[1:])[flagged]
    merged = np.concatenate([nodes, mids])
    order = np.argsort(merged, kind="stable")
    return merged[order], order >= nodes.size


def _closed_mesh(eigenvectors, closure, k_nodes, phi_nodes, previous=None):
    """Vectors on the closed mesh; only the nodes not in ``previous`` (vectors, new-k mask, new-phi mask) are
    diagonalised."""
    n_k, n_phi = k_nodes.size - 1, phi_nodes.size - 1
    if previous is None:
        kk, pp = np.meshgrid(k_nodes[:-1], phi_nodes[:-1], indexing="ij")
        open_mesh = eigenvectors(kk, pp)
    else:
        old, new_k, new_phi = previous
        new_k, new_phi = new_k[:-1], new_phi[:-1]  # the closing node is never new
        open_mesh = np.empty((n_k, n_phi) + old.shape[2:], dtype=complex)
        open_mesh[np.ix_(~new_k, ~new_phi)] = old[:-1, :-1]
        if new_k.any():
            kk, pp = np.meshgrid(k_nodes[:-1][new_k], phi_nodes[:-1], indexing="ij")
            open_mesh[new_k] = eigenvectors(kk, pp)
        if new_phi.any():
            kk, pp = np.meshgrid(k_nodes[:-1][~new_k], phi_nodes[:-1][new_phi], indexing="ij")
            open_mesh[np.ix_(~new_k, new_phi)] = eigenvectors(kk, pp)
    vectors = np.empty((n_k + 1, n_phi + 1) + open_mesh.shape[2:], dtype=complex)
    vectors[:-1, :-1] = open_mesh
    vectors[:-1, -1] = open_mesh[:, 0]
    vectors[-1] = vectors[0] if closure is None else closure(vectors[0])
    return vectors


def refined_geometry(
    eigenvectors: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    k_nodes: np.ndarray,
    phi_nodes: np.ndarray,
    bands,
    k_closure: Callable[[np.ndarray], np.ndarray] | None = None,
    initial_vectors: np.ndarray | None = None,
    tolerance: float = 0.2,
    max_levels: int = 4,
    max_cells_factor: float = 8.0,
) -> RefinedGeometry:
    """Curvature and metric of ``bands`` on a closed mesh refined until neighbouring plaquettes agree.

    Parameters
    ----------
    eigenvectors : callable
        ``eigenvectors(k, phi)`` with arrays of equal shape returns the Bloch vectors there, shape
        ``k.shape + (basis, n)``, bands ascending (at least the bands in ``bands``).
    k_nodes, phi_nodes : ndarray, keyword-only
        The starting closed mesh (first and last node the same point of the torus), increasing.
    bands : sequence of int, keyword-only
        Zero-based bands whose fields are computed (and drive the refinement).
    k_closure : callable, optional
        Periodic-gauge vectors at the last k node from those at the first (see
        :func:`atompump.theory.berry.torus_states`); default the identity.
    initial_vectors : ndarray, optional
        The vectors on the starting closed mesh, shape ``(len(k_nodes), len(phi_nodes), basis, >= max(bands) + 1)``,
        when the caller has them already (saves diagonalising the starting mesh again).
    tolerance : float, keyword-only
        Largest change, as a fraction of each field's largest magnitude, between neighbouring plaquettes.
    max_levels : int, keyword-only
        At most this many bisection rounds.
    max_cells_factor : float, keyword-only
        No round makes more than this many times the starting mesh's plaquettes (then a warning is logged).

    Returns
    -------
    RefinedGeometry
    """
    bands = list(bands)
    k_nodes = np.asarray(k_nodes, float)
    phi_nodes = np.asarray(phi_nodes, float)
    level, previous = 0, None
    n_used = max(bands) + 1
    start_cells = (k_nodes.size - 1) * (phi_nodes.size - 1)

    def solve(k, phi):
        return eigenvectors(k, phi)[..., :n_used]

    while True:
        if initial_vectors is not None and previous is None:
            vectors = np.asarray(initial_vectors)[..., :n_used]
        else:
            vectors = _closed_mesh(solve, k_closure, k_nodes, phi_nodes, previous)
        dk = np.diff(k_nodes)[:, None]
        dphi = np.diff(phi_nodes)[None, :]
        curvature = np.stack([berry_curvature(vectors[..., b]) for b in bands]) / (dk * dphi)
        g_kk, g_pp, g_kp = (np.stack(g) for g in zip(*(quantum_metric(vectors[..., b], dk=dk, dphi=dphi)
                                                       for b in bands)))
        if level == max_levels:
            break
        flag_k, flag_phi = _flags(curvature, g_kk, g_pp, g_kp, tolerance)
        if not (flag_k.any() or flag_phi.any()):
            break
        cells = (k_nodes.size + flag_k.sum() - 1) * (phi_nodes.size + flag_phi.sum() - 1)
        if cells > max_cells_factor * start_cells:
            log.warning("quantum-geometry mesh refinement stopped at %d x %d plaquettes (at most %d times the "
                        "starting mesh): the fields are not resolved to tolerance %g", k_nodes.size - 1,
                        phi_nodes.size - 1, max_cells_factor, tolerance)
            break
        (k_nodes, new_k), (phi_nodes, new_phi) = _bisect(k_nodes, flag_k), _bisect(phi_nodes, flag_phi)
        previous = (vectors, new_k, new_phi)
        level += 1
    log.info("quantum geometry on a %d x %d refined mesh after %d bisection rounds", k_nodes.size - 1,
             phi_nodes.size - 1, level)
    return RefinedGeometry(k_nodes=k_nodes, phi_nodes=phi_nodes, curvature=curvature, g_kk=g_kk, g_phiphi=g_pp,
                           g_kphi=g_kp, levels=level)


def superlattice_eigenvectors(params, *, n_bands: int, n_max: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``eigenvectors(kappa, phi)`` of the superlattice's lowest ``n_bands`` for :func:`refined_geometry`
    (kappa in units of 2 pi / dl; close the k direction with ``k_closure=superlattice_closure``)."""
    from atompump.theory.superlattice import hamiltonian

    def eigenvectors(kappa: np.ndarray, phi: np.ndarray) -> np.ndarray:
        return np.linalg.eigh(hamiltonian(kappa, phi, params, n_max=n_max))[1][..., :n_bands]

    return eigenvectors


def superlattice_closure(vectors_at_zero: np.ndarray) -> np.ndarray:
    """Periodic-gauge superlattice vectors at kappa = 1 from those at kappa = 0 (one plane wave shifted)."""
    from atompump.theory.superlattice import _shift_closure

    return _shift_closure(vectors_at_zero)


def superlattice_refined_dataset(params, *, kappa: np.ndarray, phi: np.ndarray, vectors: np.ndarray, n_bands: int,
                                 n_max: int, tolerance: float = 0.2, max_levels: int = 4):
    """The refined curvature and metric of the superlattice's lowest ``n_bands`` as Dataset variables.

    Parameters
    ----------
    params : SuperlatticeParams
    kappa, phi : ndarray, keyword-only
        The starting closed mesh (kappa in units of 2 pi / dl, phi in rad), e.g. the mesh on which the Chern numbers
        were accepted.
    vectors : ndarray, keyword-only
        The vectors on it (:func:`atompump.theory.superlattice.bloch_states`).
    n_bands, n_max : int, keyword-only
    tolerance, max_levels : keyword-only
        See :func:`refined_geometry`.

    Returns
    -------
    xarray.Dataset
        ``berry_curvature_fine`` (um), ``quantum_metric_kk_fine`` (um^2), ``quantum_metric_phiphi_fine`` (1),
        ``quantum_metric_kphi_fine`` (um) over (band, k_fine, phi_fine), plaquette centred; the plaquette edges
        ``k_fine_edge`` (1/um) and ``phi_fine_edge`` (rad); attributes ``geometry_levels`` and
        ``geometry_inequality_violation`` (per band, :func:`inequality_violation` on the refined mesh).
    """
    import xarray as xr

    geo = refined_geometry(superlattice_eigenvectors(params, n_bands=n_bands, n_max=n_max), k_nodes=kappa,
                           phi_nodes=phi, bands=range(n_bands), k_closure=superlattice_closure,
                           initial_vectors=vectors, tolerance=tolerance, max_levels=max_levels)
    per_k = params.dl_um / (2.0 * np.pi)  # d kappa / d k
    dims = ("band", "k_fine", "phi_fine")

    def attrs(units, name):
        return {"units": units, "long_name": name + " on the locally refined mesh (plaquette centred)"}

    violation = inequality_violation(geo.curvature, geo.g_kk, geo.g_phiphi, geo.g_kphi)
    return xr.Dataset(
        {
            "berry_curvature_fine": (dims, geo.curvature * per_k, attrs("um", "Berry curvature Omega_{k phi}")),
            "quantum_metric_kk_fine": (dims, geo.g_kk * per_k**2, attrs("um2", "quantum metric g_kk")),
            "quantum_metric_phiphi_fine": (dims, geo.g_phiphi, attrs("1", "quantum metric g_phiphi")),
            "quantum_metric_kphi_fine": (dims, geo.g_kphi * per_k, attrs("um", "quantum metric g_kphi")),
        },
        coords={
            "k_fine": ("k_fine", geo.k_centres / per_k, {"units": "1/um", "long_name": "quasi-momentum, plaquette "
                                                                                       "centres of the refined mesh"}),
            "phi_fine": ("phi_fine", geo.phi_centres, {"units": "rad", "long_name": "superlattice phase, plaquette "
                                                                                    "centres of the refined mesh"}),
            "k_fine_edge": ("k_fine_edge", geo.k_nodes / per_k, {"units": "1/um", "long_name": "refined mesh nodes"}),
            "phi_fine_edge": ("phi_fine_edge", geo.phi_nodes, {"units": "rad", "long_name": "refined mesh nodes"}),
        },
        attrs={"geometry_levels": geo.levels, "geometry_tolerance": tolerance,
               "geometry_inequality_violation": violation.tolist()},
    )
