"""Cramér–Rao bounds and numerical Jacobians of image and profile models.

:func:`cramer_rao_bound` gives the smallest variance any unbiased estimator of one parameter can reach,
``(F^-1)_cc`` with the Fisher matrix ``F = J diag(1/v) J^T`` of the model's Jacobian ``J`` (all nuisance
parameters included) under independent Gaussian noise of variance ``v`` (Kay, Fundamentals of Statistical Signal
Processing I, ch. 3). With spatially correlated noise the bound of the same data is ``(J C^-1 J^T)^-1``; the
estimators here quote the independent-noise bound at the measured per-pixel variance, the reference an estimator's
efficiency is measured against in the benchmarks.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cramer_rao_bound", "model_jacobian", "numerical_jacobian"]


def cramer_rao_bound(jacobian: np.ndarray, variance: np.ndarray, *, index: int = 0) -> float:
    """Cramér–Rao bound (standard deviation) of parameter ``index`` for a model under Gaussian noise.

    Parameters
    ----------
    jacobian : ndarray, shape (n_params, n_points)
        Derivatives of the model's mean at each data point with respect to every parameter (nuisance parameters
        included: they raise the bound of the parameter of interest).
    variance : ndarray, shape (n_points,)
        Noise variance of each data point.
    index : int, keyword-only
        The parameter of interest.

    Returns
    -------
    float
        ``sqrt((F^-1)_ii)`` with ``F = J diag(1/variance) J^T``; inf when ``F`` is singular.
    """
    jac = np.asarray(jacobian, dtype=float).reshape(len(jacobian), -1)
    inv_var = 1.0 / np.asarray(variance, dtype=float).ravel()
    fisher = (jac * inv_var) @ jac.T
    try:
        covariance = np.linalg.inv(fisher)
    except np.linalg.LinAlgError:
        return float("inf")
    value = covariance[index, index]
    return float(np.sqrt(value)) if value > 0 else float("inf")


def numerical_jacobian(func, params, *, relative_step: float = 1e-5) -> np.ndarray:
    """Central-difference Jacobian of ``func(params)`` (any array shape, flattened), shape (n_params, n_values).

    For :func:`cramer_rao_bound` of a model given as a plain function of a parameter vector (e.g. a 2D cloud image).
    """
    params = np.asarray(params, dtype=float)
    rows = []
    for k in range(params.size):
        step = np.zeros_like(params)
        step[k] = relative_step * max(abs(params[k]), 1.0)
        rows.append((np.ravel(func(params + step)) - np.ravel(func(params - step))) / (2 * step[k]))
    return np.array(rows)


def model_jacobian(func, values: dict, names: list[str], x: np.ndarray) -> np.ndarray:
    """Central-difference derivatives of ``func(x, **values)`` with respect to ``names``, shape (len(names), x.size)."""
    rows = []
    for name in names:
        value = values[name]
        step = 1e-6 * max(abs(value), 1e-3)
        up, down = func(x, **{**values, name: value + step}), func(x, **{**values, name: value - step})
        rows.append((up - down) / (2 * step))
    return np.array(rows)
