"""How well a run with a known truth (simulated or injected) was recovered: bias, pulls, efficiency per estimator.

For every estimator found in ``com.nc`` (each ``x_<name>_um`` with an ``x_<name>_err_um``; ``com`` is the headline
one, named by the attribute ``estimator``), over the run's *pumped* shots (not the constant-phi references):

``fraction_measured``
    shots the analysis used and the estimator measured (finite centre and error) / pumped shots.
``bias_um``
    mean of ``x - x_true`` over those shots. ``x_true`` is the first moment of the true cloud; an estimator that
    does not measure the first moment (a profile fit of an asymmetric cloud, a template registration) sits at a
    constant offset from it, which cancels in the displacement per cycle: the statistics below are taken about it.
``rms_um``
    standard deviation of ``x - x_true`` (about the bias; ``ddof = 1``): the achieved per-shot error.
``pull_mean``, ``pull_std``
    of ``(x - x_true - bias) / x_err``: honest errors give a standard deviation of 1.
``efficiency``
    ``median(bound^2) / rms^2``, the bound being ``crb_<name>_um`` when ``com.nc`` has one for the estimator, else
    ``crb_um`` (the profile fit's Cramér--Rao bound): 1 for an estimator that reaches the bound.

And for the run: ``nu_pull = (nu - nu_true) / nu_err`` from the fit summary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from atompump.errors import InputDataError

__all__ = ["Residuals", "estimator_names", "measured_residuals", "recovery_statistics", "residual_statistics",
           "shot_pulls", "true_positions"]

_NAME = re.compile(r"x_(?P<name>.+)_um")


def estimator_names(com: xr.Dataset) -> list[str]:
    """The estimators of ``com.nc``: every ``x_<name>_um`` that has an ``x_<name>_err_um``; ``com`` (the headline)
    first, then the others in alphabetical order."""
    names = []
    for var in com.data_vars:
        match = _NAME.fullmatch(str(var))
        if match and not str(var).endswith("_err_um") and f"x_{match['name']}_err_um" in com:
            names.append(match["name"])
    return sorted(names, key=lambda n: (n != "com", n))


def true_positions(com: xr.Dataset, truth: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``x_true_um`` of each shot of ``com`` (by shot id) and a mask of its pumped shots.

    Raises
    ------
    InputDataError
        A shot of ``com.nc`` is not in ``truth.json`` (the two files belong to different runs).
    """
    by_id = {str(s["shot"]): s for s in truth["shots"]}
    shots = [str(s) for s in com.shot.values]
    missing = [s for s in shots if s not in by_id]
    if missing:
        raise InputDataError(f"truth.json lacks {len(missing)} shot(s) of com.nc (first: {', '.join(missing[:3])}): "
                             "the two files come from different runs; rerun the workflow")
    x_true = np.array([float(by_id[s]["x_true_um"]) for s in shots])
    pumped = np.array([not bool(by_id[s].get("reference", False)) for s in shots])
    return x_true, pumped


@dataclass(frozen=True)
class Residuals:
    """One estimator's measured shots of a run: ``x - x_true`` and quoted errors (um), the bound (um; None when
    ``com.nc`` has none) and its variable's name."""

    residual: np.ndarray
    error: np.ndarray
    bound: np.ndarray | None
    bound_name: str | None


def measured_residuals(com: xr.Dataset, truth: Mapping[str, Any]) -> tuple[dict[str, Residuals], int, int]:
    """Each estimator's residuals over the used pumped shots it measured (finite centre, positive error).

    Returns
    -------
    residuals : dict
        Estimator name (:func:`estimator_names`) -> :class:`Residuals`.
    n_pumped, n_used_pumped : int
    """
    x_true, pumped = true_positions(com, truth)
    selectable = pumped & com.used.values.astype(bool)
    out = {}
    for name in estimator_names(com):
        x = com[f"x_{name}_um"].values.astype(float)
        err = com[f"x_{name}_err_um"].values.astype(float)
        sel = selectable & np.isfinite(x) & np.isfinite(err) & (err > 0)
        bound_name = next((v for v in (f"crb_{name}_um", "crb_um") if v in com), None)
        bound = None if bound_name is None else com[bound_name].values.astype(float)[sel]
        out[name] = Residuals(x[sel] - x_true[sel], err[sel], bound, bound_name)
    return out, int(pumped.sum()), int(selectable.sum())


def residual_statistics(residual: np.ndarray, error: np.ndarray, bound: np.ndarray | None = None) -> dict:
    """Bias, RMS, pulls and efficiency of residuals ``x - x_true`` (um) with quoted errors ``error`` and the
    per-shot bound ``bound`` (um, optional), at least 2 shots (see the module docstring for the definitions)."""
    residual, error = np.asarray(residual, dtype=float), np.asarray(error, dtype=float)
    n = residual.size
    bias = float(np.mean(residual))
    rms = float(np.std(residual, ddof=1))
    pulls = (residual - bias) / error
    out = {"bias_um": bias, "bias_err_um": rms / math.sqrt(n), "rms_um": rms,
           "median_error_um": float(np.median(error)), "pull_mean": float(np.mean(pulls)),
           "pull_std": float(np.std(pulls, ddof=1)), "pull_std_err": float(np.std(pulls, ddof=1)) / math.sqrt(
               2 * (n - 1)), "efficiency": None, "median_bound_um": None}
    if bound is not None:
        finite = bound[np.isfinite(bound)]
        if finite.size:
            median = float(np.median(finite))
            out["median_bound_um"] = median
            out["efficiency"] = median**2 / rms**2 if rms > 0 else None
    return out


def recovery_statistics(com: xr.Dataset, truth: Mapping[str, Any], summary: Mapping[str, Any] | None = None) -> dict:
    """Bias, pulls and efficiency of every estimator of ``com`` against ``truth`` (see the module docstring).

    Parameters
    ----------
    com : xarray.Dataset
        ``com.nc``: ``x_<name>_um``, ``x_<name>_err_um``, ``used``, optionally ``crb_um``/``crb_<name>_um``.
    truth : mapping
        ``truth.json``: ``nu_true`` and ``shots[*].{shot, x_true_um, reference}``.
    summary : mapping, optional
        ``summary.json`` of the fit: ``nu``, ``nu_err``.

    Returns
    -------
    dict
        ``n_shots``, ``n_pumped``, ``n_used_pumped``, ``default_estimator``, ``estimators`` (name -> ``n``,
        ``fraction_measured``, ``bias_um``, ``bias_err_um``, ``rms_um``, ``median_error_um``, ``pull_mean``,
        ``pull_std``, ``pull_std_err``, ``efficiency``, ``median_bound_um``, ``bound``; the statistics are None for
        fewer than 2 measured shots), ``nu``, ``nu_err``, ``nu_true``, ``nu_pull``.
    """
    residuals, n_pumped, n_used = measured_residuals(com, truth)
    estimators = {}
    for name, r in residuals.items():
        entry = {"n": int(r.residual.size), "fraction_measured": r.residual.size / n_pumped if n_pumped else None,
                 "bound": r.bound_name}
        if r.residual.size >= 2:
            entry.update(residual_statistics(r.residual, r.error, r.bound))
        else:
            entry.update({k: None for k in ("bias_um", "bias_err_um", "rms_um", "median_error_um", "pull_mean",
                                            "pull_std", "pull_std_err", "efficiency", "median_bound_um")})
        estimators[name] = entry
    out: dict[str, Any] = {
        "n_shots": int(com.sizes["shot"]), "n_pumped": n_pumped, "n_used_pumped": n_used,
        "default_estimator": str(com.attrs.get("estimator", "com")), "estimators": estimators,
        "nu_true": float(truth["nu_true"]), "nu": None, "nu_err": None, "nu_pull": None,
    }
    if summary is not None and summary.get("nu") is not None and summary.get("nu_err"):
        out["nu"], out["nu_err"] = float(summary["nu"]), float(summary["nu_err"])
        out["nu_pull"] = (out["nu"] - out["nu_true"]) / out["nu_err"]
    return out


def shot_pulls(com: xr.Dataset, truth: Mapping[str, Any], recovery: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per-shot pulls ``(x - x_true - bias) / x_err`` of each estimator over the shots of :func:`recovery_statistics`
    (for the pull histogram)."""
    residuals, _, _ = measured_residuals(com, truth)
    return {name: (r.residual - recovery["estimators"][name]["bias_um"]) / r.error for name, r in residuals.items()
            if recovery["estimators"][name].get("bias_um") is not None}
