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

__all__ = ["refine_chern_numbers", "bisect_integer_change"]

log = logging.getLogger(__name__)


def refine_chern_numbers(
    compute: Callable[[int, int], tuple[np.ndarray, Any, float]],
    *,
    n_k: int,
    n_phi: int,
    max_refinements: int = 3,
    integer_tolerance: float = 1e-3,
    flux_limit: float = 1.0,
    what: str = "Chern numbers",
) -> tuple[np.ndarray, np.ndarray, Any, int, int]:
    """Double an (n_k, n_phi) mesh until ``compute`` returns stable integer Chern numbers on a fine enough mesh.

    A mesh is accepted when the rounded sums equal those of the previous mesh and no plaquette carries a Berry
    flux above ``flux_limit``: the FHS sum is exact only when every plaquette's flux is well below pi, and a
    curvature peak narrower than the mesh (a nearly closed gap) shows up as a large plaquette flux.

    Parameters
    ----------
    compute : callable
        ``compute(n_k, n_phi) -> (raw, extra, max_flux)``: the raw FHS sums (1-D float array) on that mesh,
        anything the caller wants back from the accepted mesh (energies, vectors, ...), and the largest
        ``|plaquette flux|`` (rad) of the bands involved.
    n_k, n_phi : int, keyword-only
        Starting mesh.
    max_refinements : int, keyword-only
        At most this many doublings.
    integer_tolerance : float, keyword-only
        ``|raw - round(raw)|`` below this counts as integer.
    flux_limit : float, keyword-only
        Largest plaquette flux (rad) accepted.
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
        raw, extra, max_flux = compute(n_k, n_phi)
        raw = np.asarray(raw, dtype=float)
        rounded = np.rint(raw).astype(int)
        integer = bool(np.all(np.abs(raw - rounded) < integer_tolerance))
        stable = previous is not None and np.array_equal(previous, rounded)
        if integer and stable and max_flux < flux_limit:
            return rounded, raw, extra, n_k, n_phi
        if refinement == max_refinements:
            if not integer:
                problem = f"not integer ({np.round(raw, 4).tolist()})"
            elif max_flux >= flux_limit:
                problem = f"not resolved (a plaquette carries a Berry flux of {max_flux:.2f} rad)"
            elif previous is None:
                problem = "not confirmed by a second mesh"
            else:
                problem = f"changed on the last refinement (from {previous.tolist()})"
            warnings.warn(
                f"{what} {rounded.tolist()} not trusted: {problem} on a {n_k}x{n_phi} mesh after "
                f"{max_refinements} refinements; a gap is probably nearly closed",
                RuntimeWarning,
                stacklevel=3,
            )
            return rounded, raw, extra, n_k, n_phi
        previous = rounded if integer else None
        log.info("%s %s on a %dx%d mesh (largest plaquette flux %.2f rad); refining", what,
                 np.round(raw, 4).tolist(), n_k, n_phi, max_flux)
        n_k, n_phi = 2 * n_k, 2 * n_phi
    raise AssertionError("unreachable")  # pragma: no cover


def bisect_integer_change(at: Callable[[float], Any], *, low: float, high: float, steps: int,
                          value: Callable[[Any], int], what: str = "the pumped charge",
                          name: str = "x") -> tuple[float, Any, Any]:
    """Bisect the parameter at which an integer (a Chern number) computed by ``at(x)`` changes.

    ``value(at(x))`` must differ at ``low`` and ``high``; after ``steps`` halvings the midpoint of the final bracket
    is returned with the results at its two ends (which still differ).
    """
    r_low, r_high = at(low), at(high)
    if value(r_low) == value(r_high):
        raise ValueError(f"{what} is {value(r_low)} at both {name} = {low} and {name} = {high}; widen the bracket")
    for _ in range(steps):
        mid = 0.5 * (low + high)
        result = at(mid)
        if value(result) == value(r_low):
            low, r_low = mid, result
        else:
            high, r_high = mid, result
    return 0.5 * (low + high), r_low, r_high
