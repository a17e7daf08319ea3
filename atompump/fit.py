"""Fits of the centre-of-mass displacement per pump cycle.

Model (both pump directions in one fit)::

    x = x0 + direction * nu * dl * cycle

with ``nu`` the displacement per cycle in units of the long-lattice constant ``dl`` (``nu = C`` for an ideal
pump of a filled band with Chern number C; Thouless 1983, Lohse et al. 2016).

Errors: the fit is weighted with the per-shot uncertainties. When the reduced chi-square exceeds 1 (scatter
beyond the per-shot errors, e.g. shot-to-shot position jitter) the parameter errors are scaled by
``sqrt(reduced_chi2)`` and ``errors_scaled`` is set; below 1 they are not shrunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import lmfit

__all__ = ["LinearPumpFit", "fit_linear_pump", "linear_pump_model"]


def linear_pump_model(cycle: np.ndarray, direction: np.ndarray, x0: float, nu: float, dl: float) -> np.ndarray:
    """Centre of mass (um) after ``cycle`` cycles in ``direction``: ``x0 + direction * nu * dl * cycle``."""
    return x0 + direction * nu * dl * cycle


@dataclass(frozen=True)
class LinearPumpFit:
    """Result of :func:`fit_linear_pump`.

    Attributes
    ----------
    nu, nu_err : float
        Displacement per cycle in units of dl, and its one-sigma error.
    x0_um, x0_err_um : float
        Centre at zero cycles (um).
    dl_um : float
    reduced_chi2 : float
        Before any scaling.
    errors_scaled : bool
        True when errors were multiplied by sqrt(reduced_chi2) > 1.
    n_points : int
    correlation_x0_nu : float
    residuals_um : ndarray
        Data minus model, one per point.
    """

    nu: float
    nu_err: float
    x0_um: float
    x0_err_um: float
    dl_um: float
    reduced_chi2: float
    errors_scaled: bool
    n_points: int
    correlation_x0_nu: float
    residuals_um: np.ndarray

    @property
    def displacement_per_cycle_um(self) -> float:
        return self.nu * self.dl_um

    @property
    def displacement_per_cycle_err_um(self) -> float:
        return self.nu_err * self.dl_um


def fit_linear_pump(
    cycle: np.ndarray,
    direction: np.ndarray,
    x_um: np.ndarray,
    x_err_um: np.ndarray,
    *,
    dl_um: float,
) -> LinearPumpFit:
    """Weighted least-squares fit of ``x = x0 + direction * nu * dl * cycle``.

    Parameters
    ----------
    cycle, direction, x_um, x_err_um : ndarray, shape (n,)
        Pump cycles, direction (+1/-1), centre of mass and its uncertainty (um) of each used shot.
    dl_um : float, keyword-only
        Long-lattice constant in um.

    Raises
    ------
    ValueError
        Fewer than 3 points, non-positive or non-finite errors, or no spread in ``direction * cycle``.
    """
    cycle, direction, x_um, x_err_um = (np.asarray(a, dtype=float) for a in (cycle, direction, x_um, x_err_um))
    n = x_um.size
    if not (cycle.shape == direction.shape == x_um.shape == x_err_um.shape == (n,)):
        raise ValueError("cycle, direction, x_um and x_err_um must be 1D arrays of one length")
    if n < 3:
        raise ValueError(f"need at least 3 used shots to fit a displacement, got {n}")
    if not np.all(np.isfinite(x_um)) or not np.all(np.isfinite(x_err_um)) or np.any(x_err_um <= 0):
        raise ValueError("centres and their errors must be finite, and errors positive")
    lever = direction * cycle
    if np.ptp(lever) == 0:
        raise ValueError("all shots have the same direction * cycle: the displacement per cycle is not constrained")
    if dl_um <= 0:
        raise ValueError(f"dl_um must be positive, got {dl_um}")

    model = lmfit.Model(linear_pump_model, independent_vars=["cycle", "direction", "dl"])
    guess_slope = np.polyfit(lever, x_um, 1)
    params = model.make_params(x0=guess_slope[1], nu=guess_slope[0] / dl_um)
    result = model.fit(x_um, params, cycle=cycle, direction=direction, dl=dl_um, weights=1.0 / x_err_um,
                       scale_covar=False)
    dof = max(n - 2, 1)
    redchi = float(np.sum((result.residual) ** 2) / dof)
    scale = np.sqrt(redchi) if redchi > 1.0 else 1.0
    nu = result.params["nu"]
    x0 = result.params["x0"]
    corr = float(nu.correl.get("x0", 0.0)) if nu.correl else 0.0
    return LinearPumpFit(
        nu=float(nu.value),
        nu_err=float(nu.stderr) * scale,
        x0_um=float(x0.value),
        x0_err_um=float(x0.stderr) * scale,
        dl_um=float(dl_um),
        reduced_chi2=redchi,
        errors_scaled=bool(redchi > 1.0),
        n_points=n,
        correlation_x0_nu=corr,
        residuals_um=x_um - result.best_fit,
    )
