"""Mesh refinement of Fukui–Hatsugai–Suzuki Chern numbers until they are integer and stable.

The FHS sum is an integer for any mesh, but it equals the Chern number only once the mesh resolves the Berry
curvature (Fukui, Hatsugai & Suzuki, J. Phys. Soc. Jpn. 74, 1674 (2005)). In practice the raw sum is computed in
floating point and is integer to rounding error as soon as no plaquette carries a flux near +-pi; we double the
mesh until the rounded values agree on two successive meshes (or, for the last allowed refinement, are integer).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["refine_chern_numbers"]

log = logging.getLogger(__name__)


def refine_chern_numbers(
    compute: Callable[[int, int], tuple[np.ndarray, Any]],
    *,
    n_k: int,
    n_phi: int,
    max_refinements: int = 3,
    integer_tolerance: float = 1e-3,
    what: str = "Chern numbers",
) -> tuple[np.ndarray, np.ndarray, Any, int, int]:
    """Double an (n_k, n_phi) mesh until ``compute`` returns stable integer Chern numbers.

    Parameters
    ----------
    compute : callable
        ``compute(n_k, n_phi) -> (raw, extra)``: the raw FHS sums (1-D float array) on that mesh and anything
        the caller wants back from the accepted mesh (energies, vectors, ...).
    n_k, n_phi : int, keyword-only
        Starting mesh.
    max_refinements : int, keyword-only
        At most this many doublings.
    integer_tolerance : float, keyword-only
        ``|raw - round(raw)|`` below this counts as integer.
    what : str, keyword-only
        Name used in the warning.

    Returns
    -------
    rounded : ndarray of int
    raw : ndarray of float
    extra : object
        What ``compute`` returned with the accepted mesh.
    n_k, n_phi : int
        The accepted mesh.

    Warns
    -----
    RuntimeWarning
        If the sums are still not integer after ``max_refinements`` doublings (a gap is nearly closed).
    """
    previous = None
    for refinement in range(max_refinements + 1):
        raw, extra = compute(n_k, n_phi)
        raw = np.asarray(raw, dtype=float)
        rounded = np.rint(raw).astype(int)
        integer = bool(np.all(np.abs(raw - rounded) < integer_tolerance))
        if integer and (refinement == max_refinements or (previous is not None and np.array_equal(previous,
                                                                                                  rounded))):
            return rounded, raw, extra, n_k, n_phi
        if refinement == max_refinements:
            warnings.warn(
                f"{what} {np.round(raw, 4).tolist()} are not integer on a {n_k}x{n_phi} mesh after "
                f"{max_refinements} refinements; a gap is probably nearly closed",
                RuntimeWarning,
                stacklevel=3,
            )
            return rounded, raw, extra, n_k, n_phi
        previous = rounded if integer else None
        log.info("%s %s on a %dx%d mesh; refining", what, np.round(raw, 4).tolist(), n_k, n_phi)
        n_k, n_phi = 2 * n_k, 2 * n_phi
    raise AssertionError("unreachable")  # pragma: no cover
