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
from typing import Any

import numpy as np
import xarray as xr

from atompump.errors import InputDataError

__all__ = ["estimator_names", "recovery_statistics", "shot_pulls", "shot_residuals"]

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


def shot_residuals(com: xr.Dataset, truth: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
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


def _measured(com: xr.Dataset, name: str, selectable: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres, errors and the mask of the ``selectable`` shots that estimator ``name`` measured."""
    x = com[f"x_{name}_um"].values.astype(float)
    err = com[f"x_{name}_err_um"].values.astype(float)
    return x, err, selectable & np.isfinite(x) & np.isfinite(err) & (err > 0)


def _bound(com: xr.Dataset, name: str) -> tuple[str | None, np.ndarray | None]:
    for var in (f"crb_{name}_um", "crb_um"):
        if var in com:
            return var, com[var].values.astype(float)
    return None, None


def _stats(residual: np.ndarray, error: np.ndarray, bound: np.ndarray | None) -> dict:
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
    x_true, pumped = shot_residuals(com, truth)
    used = com.used.values.astype(bool)
    n_pumped = int(pumped.sum())
    estimators = {}
    for name in estimator_names(com):
        x, err, sel = _measured(com, name, pumped & used)
        bound_name, bound = _bound(com, name)
        entry = {"n": int(sel.sum()), "fraction_measured": float(sel.sum() / n_pumped) if n_pumped else None,
                 "bound": bound_name}
        if sel.sum() >= 2:
            entry.update(_stats(x[sel] - x_true[sel], err[sel], None if bound is None else bound[sel]))
        else:
            entry.update({k: None for k in ("bias_um", "bias_err_um", "rms_um", "median_error_um", "pull_mean",
                                            "pull_std", "pull_std_err", "efficiency", "median_bound_um")})
        estimators[name] = entry
    out: dict[str, Any] = {
        "n_shots": int(com.sizes["shot"]), "n_pumped": n_pumped, "n_used_pumped": int((pumped & used).sum()),
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
    x_true, pumped = shot_residuals(com, truth)
    used = com.used.values.astype(bool)
    out = {}
    for name, entry in recovery["estimators"].items():
        if entry.get("bias_um") is None:
            continue
        x, err, sel = _measured(com, name, pumped & used)
        out[name] = (x[sel] - x_true[sel] - entry["bias_um"]) / err[sel]
    return out
