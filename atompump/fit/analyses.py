"""Fits of the displacement per pump cycle, their errors, and comparisons between models.

Every fit is weighted with the per-shot uncertainties e_i. The reduced chi-square checks them against the scatter.
When it exceeds 1, the points scatter more than their errors allow: in a pump run that is mostly the shot-to-shot
jitter of the cloud's position (the trap, the lattice beams), the same for every shot and unrelated to e_i. The fit
then adds one excess scatter s in quadrature to every shot, ``sigma_i^2 = e_i^2 + s^2``, with s the restricted
maximum-likelihood (REML) estimate (:func:`excess_scatter_fit`), and quotes the parameter errors of the refit with
these errors (``errors_scaled``, ``excess_scatter_um``). Multiplying all errors by ``sqrt(reduced_chi2)`` instead
(the Birge ratio) keeps the weights 1/e_i^2: when s dominates but the e_i differ between shots, those weights are
wrong and the Birge-scaled errors too small (1.7x on the 22 real shots of banik-ring-dev, whose per-shot errors
range from 0.02 to 0.3 um under a 0.3 um jitter). With equal e_i both are the same. When the reduced chi-square is
below 1 the errors are left as they are (never shrunk). The information criteria use the Gaussian likelihood of
the total errors, with s counted as a parameter. A bootstrap over shots gives a second, model-independent opinion
on the error of ``nu``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import lmfit
import numpy as np
from scipy import stats

from atompump.fit.models import MODEL_NAMES, efficiency_displacement, make_model

__all__ = [
    "PumpData",
    "FitReport",
    "fit_model",
    "model_curve",
    "model_problem",
    "differential_problem",
    "fit_differential",
    "reference_differences",
    "direction_differences",
    "bootstrap_nu",
    "excess_scatter_fit",
    "direction_consistency",
    "compare_models",
    "pull_statistics",
]


@dataclass(frozen=True)
class PumpData:
    """Centres of mass of the used shots.

    Attributes
    ----------
    cycle, direction, x_um, x_err_um : ndarray, shape (n,)
    order : ndarray, shape (n,)
        Acquisition order (for drifts and pairing).
    reference : ndarray of bool, shape (n,)
        True for constant-phi reference sequences (not pumped: their ``cycle`` is 0).
    shot : ndarray of str, shape (n,)
    sequence : ndarray, shape (n,)
        Length of each shot's sequence in pump cycles: ``cycle`` for pumped shots, that of the pumped shots it is
        compared with for a reference shot. Pumped and reference shots are paired by equal ``sequence``.
    """

    cycle: np.ndarray
    direction: np.ndarray
    x_um: np.ndarray
    x_err_um: np.ndarray
    order: np.ndarray
    reference: np.ndarray
    shot: np.ndarray
    sequence: np.ndarray

    def __post_init__(self) -> None:
        n = np.asarray(self.x_um).size
        for name in ("cycle", "direction", "x_um", "x_err_um", "order", "reference", "shot", "sequence"):
            if np.asarray(getattr(self, name)).shape != (n,):
                raise ValueError(f"PumpData.{name} must have shape ({n},)")
        if not np.all(np.isfinite(self.x_um)) or not np.all(np.isfinite(self.x_err_um)):
            raise ValueError("centres and their errors must be finite")
        if np.any(np.asarray(self.x_err_um) <= 0):
            raise ValueError("per-shot errors must be positive")

    @classmethod
    def from_arrays(cls, cycle, direction, x_um, x_err_um, *, order=None, reference=None, shot=None,
                    sequence=None) -> PumpData:
        """Build from arrays; ``order`` defaults to the position, ``sequence`` to ``cycle``."""
        n = np.asarray(x_um).size
        cycle = np.asarray(cycle, float)
        return cls(cycle, np.asarray(direction, float), np.asarray(x_um, float),
                   np.asarray(x_err_um, float), np.arange(n, dtype=float) if order is None else np.asarray(order, float),
                   np.zeros(n, bool) if reference is None else np.asarray(reference, bool),
                   np.array([str(i) for i in range(n)]) if shot is None else np.asarray(shot).astype(str),
                   cycle.copy() if sequence is None else np.asarray(sequence, float))

    def subset(self, mask: np.ndarray) -> PumpData:
        return PumpData(*(np.asarray(getattr(self, f))[mask] for f in
                          ("cycle", "direction", "x_um", "x_err_um", "order", "reference", "shot", "sequence")))

    @property
    def pumped(self) -> PumpData:
        return self.subset(~self.reference)


@dataclass(frozen=True)
class FitReport:
    """Result of one fit.

    Attributes
    ----------
    model : str
    nu, nu_err : float
        Displacement per cycle in units of dl, and its error (scaled when ``errors_scaled``).
    params : dict[str, tuple[float, float]]
        Every varied parameter: (value, error), errors scaled like ``nu_err``.
    correlations : dict[str, float]
        Correlation coefficients of varied parameter pairs, keyed 'a/b'.
    chi2, reduced_chi2 : float
        Of the residuals against the per-shot errors alone (a check of those errors).
    dof, n_points : int
    aic, bic : float
        Akaike and Bayesian information criteria from the Gaussian likelihood of the residuals with the total
        errors ``sigma_um`` (the excess scatter counted as a parameter), comparable between models fitted to the
        same points.
    errors_scaled : bool
        True when the scatter exceeds the per-shot errors and the fit added ``excess_scatter_um`` to them.
    residuals_um, model_um, sigma_um : ndarray
        Per point (in the order of the input data); ``sigma_um`` is the total error ``sqrt(e_i^2 + s^2)``.
    extra : dict
        Model-specific numbers (e.g. the efficiency ``beta``).
    excess_scatter_um : float
        The scatter s added in quadrature to every point's error (0 when the reduced chi-square is <= 1), um.
    nu_err_per_shot_errors : float
        The error of ``nu`` from the per-shot errors alone (the weights 1/e_i^2, no excess scatter).
    values : dict[str, float]
        Every parameter of the model at the fit's value, fixed ones included (:func:`model_curve` evaluates the
        model with them).
    """

    model: str
    nu: float
    nu_err: float
    params: dict
    correlations: dict
    chi2: float
    reduced_chi2: float
    dof: int
    n_points: int
    aic: float
    bic: float
    errors_scaled: bool
    residuals_um: np.ndarray
    model_um: np.ndarray
    sigma_um: np.ndarray
    extra: dict = field(default_factory=dict)
    excess_scatter_um: float = 0.0
    nu_err_per_shot_errors: float = math.nan
    values: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Plain-Python numbers for JSON."""
        return {"model": self.model, "nu": self.nu, "nu_err": self.nu_err, "chi2": self.chi2,
                "reduced_chi2": self.reduced_chi2, "dof": self.dof, "n_points": self.n_points, "aic": self.aic,
                "bic": self.bic, "errors_scaled": self.errors_scaled, "excess_scatter_um": self.excess_scatter_um,
                "nu_err_per_shot_errors": self.nu_err_per_shot_errors,
                "params": {k: {"value": v, "error": e} for k, (v, e) in self.params.items()},
                "correlations": dict(self.correlations), **self.extra}


def excess_scatter_fit(fit_with, err: np.ndarray):
    """Fit with the per-shot errors ``err``, and again with an excess scatter when the scatter exceeds them.

    ``fit_with(sigma)`` fits the points with the errors ``sigma`` (shape like ``err``) and returns an lmfit
    ``ModelResult``. The excess variance ``t = s^2 >= 0`` maximises the restricted (REML) likelihood of the points
    with the variances ``err_i^2 + t`` (Patterson & Thompson, Biometrika 58, 545 (1971); Viechtbauer, J. Educ.
    Behav. Stat. 30, 261 (2005) for this random-effects form),
    ``-2 ln L_R = sum_i [r_i^2 / (err_i^2 + t) + ln(err_i^2 + t)] + ln det(J^T W J)``, with the model linearised
    about the fit with ``err`` (exact for the linear models; J its Jacobian, W the inverse variances, r the
    residuals of the weighted fit). With equal ``err`` this is the Birge ratio exactly; unlike the moment estimate
    that sets the refit's reduced chi-square to 1 (Paule-Mandel), one outlying shot with a large error does not
    inflate s for every shot. s is 0 when the fit with ``err`` alone has a reduced chi-square <= 1.

    Returns
    -------
    first : ModelResult
        The fit with ``err`` alone.
    final : ModelResult
        The fit with the total errors ``sqrt(err^2 + s^2)`` (``first`` when s = 0).
    s : float
        The excess scatter, in the unit of the points.
    """
    err = np.asarray(err, float)
    first = fit_with(err)
    if not first.success or float(np.sum(first.residual**2)) <= max(err.size - first.nvarys, 1):
        return first, first, 0.0
    t = _reml_excess_variance(np.asarray(first.data - first.best_fit, float), _jacobian(first), err**2)
    if t <= 0.0:
        return first, first, 0.0
    return first, fit_with(np.sqrt(err**2 + t)), math.sqrt(t)


def _jacobian(result: lmfit.model.ModelResult) -> np.ndarray:
    """d(model)/d(parameter) at the fit, shape (n, varied parameters): central differences of ``model.eval``."""
    columns = []
    for name, par in result.params.items():
        if not par.vary:
            continue
        h = 1e-6 * max(abs(par.value), 1.0)
        values = []
        for step in (h, -h):
            moved = result.params.copy()
            moved[name].set(value=par.value + step)
            values.append((moved[name].value, result.model.eval(moved, **result.userkws)))
        (up, f_up), (down, f_down) = values
        columns.append((np.asarray(f_up, float) - np.asarray(f_down, float)) / (up - down))
    return np.column_stack(columns)


def _reml_excess_variance(residual: np.ndarray, jacobian: np.ndarray, variance: np.ndarray) -> float:
    """The excess variance t >= 0 that minimises the restricted -2 ln L (see :func:`excess_scatter_fit`)."""
    from scipy.optimize import minimize_scalar

    def objective(t: float) -> float:
        w = 1.0 / (variance + t)
        normal = (jacobian * w[:, None]).T @ jacobian
        r = residual - jacobian @ np.linalg.solve(normal, (jacobian * w[:, None]).T @ residual)
        return float(np.sum(w * r * r) + np.sum(np.log(variance + t)) + np.linalg.slogdet(normal)[1])

    scale = float(np.sum(residual**2)) / max(residual.size - jacobian.shape[1], 1) + float(np.max(variance))
    grid = scale * np.logspace(-10.0, 1.0, 89)
    values = [objective(t) for t in grid]
    k = int(np.argmin(values))
    lo, hi = np.log(grid[max(k - 1, 0)]), np.log(grid[min(k + 1, grid.size - 1)])
    best = minimize_scalar(lambda u: objective(math.exp(u)), bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-10})
    t = math.exp(best.x)
    return t if objective(t) < objective(0.0) else 0.0


def _report(name: str, first: lmfit.model.ModelResult, final: lmfit.model.ModelResult, n: int, *, nu: float,
            nu_err: float, nu_err_first: float, excess: float, extra: dict | None = None) -> FitReport:
    """The FitReport of a fit with the per-shot errors (``first``) and with the total errors (``final``)."""
    dof = max(n - final.nvarys, 1)
    chi2 = float(np.sum(first.residual**2))
    redchi = chi2 / dof
    params, correlations = {}, {}
    for pname, par in final.params.items():
        if not par.vary:
            continue
        params[pname] = (float(par.value), float(par.stderr) if par.stderr is not None else math.nan)
        for other, value in (par.correl or {}).items():
            key = "/".join(sorted((pname, other)))
            correlations[key] = float(value)
    sigma = 1.0 / np.asarray(final.weights)
    residuals = np.asarray(final.data - final.best_fit)
    minus_two_log_l = float(np.sum((residuals / sigma) ** 2) + np.sum(np.log(2 * np.pi * sigma**2)))
    k = final.nvarys + 1  # the excess scatter is estimated too (also when it comes out 0)
    return FitReport(model=name, nu=float(nu), nu_err=float(nu_err), params=params,
                     correlations=dict(sorted(correlations.items())), chi2=chi2, reduced_chi2=redchi, dof=dof,
                     n_points=n, aic=minus_two_log_l + 2 * k, bic=minus_two_log_l + k * math.log(n),
                     errors_scaled=bool(excess > 0), residuals_um=residuals, model_um=np.asarray(final.best_fit),
                     sigma_um=sigma, extra=extra or {}, excess_scatter_um=float(excess),
                     nu_err_per_shot_errors=float(nu_err_first),
                     values={key: float(p.value) for key, p in final.params.items()})


def model_problem(data: PumpData, name: str) -> str:
    """Why the used shots cannot be fitted with model ``name`` (empty when they can), without fitting.

    The model needs more used pumped shots (reference shots excluded) than it has free parameters, shots after
    different ``direction * cycle`` (a lever arm for ``nu``), and for ``linear_drift`` different acquisition orders,
    for ``per_direction`` both directions, for ``efficiency`` a shot after a non-zero number of cycles.
    :func:`fit_model` raises ``ValueError`` with this text; the fit stage checks it before any fit.
    """
    pumped = data.pumped
    n = pumped.x_um.size
    n_free = sum(1 for p in make_model(name).make_params().values() if p.vary)
    if n < n_free + 1:
        return f"need at least {n_free + 1} used pumped shots for the {name} model, got {n}"
    if np.ptp(np.asarray(pumped.cycle) * np.asarray(pumped.direction)) == 0:
        return (f"all {n} used pumped shots have the same direction * cycle "
                f"({float(pumped.cycle[0] * pumped.direction[0]):g}): the displacement per cycle is not constrained")
    if name == "linear_drift" and np.ptp(pumped.order) == 0:
        return "the linear_drift model needs shots at different acquisition orders"
    if name == "per_direction" and not (np.any(pumped.direction > 0) and np.any(pumped.direction < 0)):
        return "the per_direction model needs shots of both pump directions"
    if name == "efficiency" and float(np.max(pumped.cycle)) <= 0:
        return "the efficiency model needs shots after at least part of a cycle"
    return ""


def differential_problem(data: PumpData, name: str) -> str:
    """Why the differential analysis ``name`` (``reference`` or ``direction``) cannot be done with the used shots
    (empty when it can): no pairs, fewer than 2 pairs, or no pair after a non-zero number of cycles."""
    pairing = {"reference": reference_differences, "direction": direction_differences}[name]
    try:
        cycle, factor, _, _ = pairing(data)
    except ValueError as exc:
        return str(exc)
    if cycle.size < 2:
        return f"need at least 2 pairs for the differential_{name} analysis, got {cycle.size}"
    if np.all(cycle * factor == 0):
        return f"the differential_{name} analysis has no pairs after a non-zero number of cycles"
    return ""


def fit_model(data: PumpData, name: str, *, dl_um: float, chern_lower: int = 1, chern_upper: int = -1,
              step_width: float = 0.02) -> FitReport:
    """Fit the pumped shots of ``data`` with the model ``name`` (see :mod:`atompump.fit.models`).

    Reference shots are excluded (they are used by the differential analyses). For ``per_direction`` the
    reported ``nu`` is the mean of the two directions; for ``efficiency`` it is the mean displacement per cycle
    between 0 and the largest measured cycle, ``D(c_max) / c_max``, with its error propagated from ``beta``.

    Raises
    ------
    ValueError
        Fewer points than parameters + 1, no lever arm, or a model that needs both directions without them.
    """
    if dl_um <= 0:
        raise ValueError(f"dl_um must be positive, got {dl_um}")
    problem = model_problem(data, name)
    if problem:
        raise ValueError(problem)
    pumped = data.pumped
    n = pumped.x_um.size
    model = make_model(name)
    indep = {"cycle": pumped.cycle, "direction": pumped.direction, "dl": dl_um}
    slope, intercept = np.polyfit(pumped.direction * pumped.cycle, pumped.x_um, 1)
    params = model.make_params()
    params["x0"].set(value=intercept)
    if "nu" in params:
        params["nu"].set(value=np.clip(slope / dl_um, -9.0, 9.0))
    if name == "linear_drift":
        indep["order"] = pumped.order
    if name == "per_direction":
        for p in ("nu_plus", "nu_minus"):
            params[p].set(value=np.clip(slope / dl_um, -9.0, 9.0))
    if name == "efficiency":
        params["chern_lower"].set(value=chern_lower, vary=False)
        params["chern_upper"].set(value=chern_upper, vary=False)
        params["step_width"].set(value=step_width, vary=False)
        params["beta"].set(value=0.98 if slope * chern_lower >= 0 else 0.5)
    first, result, excess = excess_scatter_fit(
        lambda sigma: model.fit(pumped.x_um, params, weights=1.0 / sigma, scale_covar=False, **indep),
        pumped.x_err_um)
    if not result.success:
        raise ValueError(f"the {name} fit did not converge: {result.message}")
    extra: dict = {}
    if name == "linear_drift":
        extra["drift_um_per_shot"] = float(result.params["drift"].value)
    if name == "efficiency":
        c_max = float(np.max(pumped.cycle))
        extra["beta"] = float(result.params["beta"].value)
        extra["nu_definition"] = f"mean displacement per cycle over 0..{c_max:g} cycles"
    kwargs = dict(chern_lower=chern_lower, chern_upper=chern_upper, step_width=step_width)
    nu, nu_err = _nu_of(name, result, pumped, kwargs)
    nu_err_first = _nu_of(name, first, pumped, kwargs)[1]
    if nu_err is None or not np.isfinite(nu_err):
        raise ValueError(f"the {name} fit gave no error estimate (singular covariance)")
    report = _report(name, first, result, n, nu=nu, nu_err=nu_err,
                     nu_err_first=math.nan if nu_err_first is None else nu_err_first, excess=excess, extra=extra)
    if name == "efficiency":
        report.extra["beta_err"] = report.params["beta"][1]
    return report


def _nu_of(name: str, result, pumped: PumpData, kwargs: dict) -> tuple[float, float | None]:
    """``nu`` and its error (None: singular covariance) from a fit of model ``name`` (see :func:`fit_model`)."""
    p = result.params
    if name in ("linear", "linear_drift"):
        return p["nu"].value, p["nu"].stderr
    if name == "per_direction":
        cov = result.covar
        names = result.var_names
        i, j = names.index("nu_plus"), names.index("nu_minus")
        nu = 0.5 * (p["nu_plus"].value + p["nu_minus"].value)
        # no covariance (singular: a direction without pumped cycles, e.g. early in a live run): no error estimate
        return nu, None if cov is None else 0.5 * math.sqrt(max(cov[i, i] + cov[j, j] + 2 * cov[i, j], 0.0))
    c_max = float(np.max(pumped.cycle))  # efficiency
    beta, beta_err = p["beta"].value, p["beta"].stderr or 0.0
    nu = float(efficiency_displacement(np.array([c_max]), beta, **kwargs)[0]) / c_max
    h = 1e-6
    lo, hi = max(beta - h, 0.0), min(beta + h, 1.0)
    derivative = (efficiency_displacement(np.array([c_max]), hi, **kwargs)[0]
                  - efficiency_displacement(np.array([c_max]), lo, **kwargs)[0]) / (hi - lo) / c_max
    return nu, abs(derivative) * beta_err


def model_curve(report: FitReport, cycle: np.ndarray, direction: int, *, dl_um: float) -> np.ndarray:
    """The fitted displacement x - x0 (um) of ``report``'s model at ``cycle`` in one ``direction`` (+1 or -1).

    A model of the pumped shots (:data:`~atompump.fit.models.MODEL_NAMES`) is evaluated with every fitted
    parameter (``report.values``), a drift in acquisition order at order 0; a differential fit, which has no model
    of x, by the straight line ``direction * nu * dl * cycle``.
    """
    cycle = np.asarray(cycle, float)
    if report.model not in MODEL_NAMES:
        return direction * report.nu * dl_um * cycle
    func = make_model(report.model).func
    values = dict(report.values)
    x0 = values["x0"]
    independent = {"cycle": cycle, "direction": np.full(cycle.shape, float(direction)), "dl": dl_um}
    if report.model == "linear_drift":
        independent["order"] = np.zeros(cycle.shape)
    return np.asarray(func(**independent, **values), float) - x0


def _pair_nearest(first: np.ndarray, second: np.ndarray, key: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Pair indices of ``first`` with indices of ``second`` of equal ``key`` (cycles, or sequence length),
    nearest-first in acquisition order, each index used at most once. Returns shape (n_pairs, 2), sorted.

    Greedy: of all pairs (i, j) with equal keys, the one with the smallest ``(|order_i - order_j|, order_i, i, j)``
    whose members are both unpaired is taken, again and again. Each first index keeps in a heap only its nearest
    unpaired candidate on either side in acquisition order (found by skipping paired ones, union-find style), so a
    run of n shots costs O(n log n) time and O(n) memory, not the n^2 of listing every candidate pair.
    """
    first, second = np.asarray(first, dtype=int), np.asarray(second, dtype=int)
    pairs: list[tuple[int, int]] = []
    for value in np.unique(key[first]):
        group = second[key[second] == value]
        if group.size:
            pairs += _pair_group(first[key[first] == value], group, order)
    return np.array(sorted(pairs), dtype=int).reshape(-1, 2)


class _NextFree:
    """Positions ``0 .. m-1``, each free or taken: ``find(k)`` is the first free position >= k (``m``: none).

    Union-find with path halving: taking positions one by one and asking for the next free one costs nearly
    constant time per call.
    """

    def __init__(self, m: int) -> None:
        self.parent = list(range(m + 1))

    def find(self, k: int) -> int:
        parent = self.parent
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def take(self, k: int) -> None:
        self.parent[k] = k + 1


def _pair_group(first: np.ndarray, second: np.ndarray, order: np.ndarray) -> list[tuple[int, int]]:
    """:func:`_pair_nearest` for one key value, where every (first, second) pair is a candidate."""
    import heapq

    # Each side as a list in which the nearest candidate comes first, ties to the smaller index j:
    # at or after order_i: sorted by (order, j); before order_i: sorted by (-order, j).
    sides = []
    for sign in (1, -1):
        ranked = second[np.lexsort((second, sign * order[second]))]
        sides.append((ranked, sign * order[ranked], {int(j): k for k, j in enumerate(ranked)},
                      _NextFree(ranked.size)))
    heap: list[tuple[int, int, int, int, int, int]] = []

    def push(i: int, side: int, k: int) -> None:
        ranked = sides[side][0]
        if k < ranked.size:
            j = int(ranked[k])
            heapq.heappush(heap, (abs(int(order[i]) - int(order[j])), int(order[i]), i, j, side, k))

    for i in (int(i) for i in first):
        push(i, 0, int(np.searchsorted(sides[0][1], order[i], side="left")))  # order_j >= order_i
        push(i, 1, int(np.searchsorted(sides[1][1], -order[i], side="right")))  # order_j < order_i
    used_first: set[int] = set()
    used_second: set[int] = set()
    pairs: list[tuple[int, int]] = []
    while heap and len(pairs) < min(first.size, second.size):
        _, _, i, j, side, k = heapq.heappop(heap)
        if i in used_first:
            continue
        if j in used_second:  # taken meanwhile: i's next free candidate on the same side
            push(i, side, sides[side][3].find(k))
            continue
        used_first.add(i)
        used_second.add(j)
        pairs.append((i, j))
        for _, _, position, free in sides:
            free.take(position[j])
    return pairs


def reference_differences(data: PumpData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pumped minus reference: each pumped shot paired with the nearest reference shot in acquisition order
    whose sequence has the same length (``data.sequence``).

    Returns ``(cycle, factor, dx_um, dx_err_um)``, ``factor`` being the pumped shot's direction. Each reference
    shot is used at most once (pairs are formed nearest-first), so the differences are independent.
    """
    ref = np.flatnonzero(data.reference)
    pumped = np.flatnonzero(~data.reference)
    if ref.size == 0 or pumped.size == 0:
        raise ValueError("the pumped-minus-reference analysis needs both pumped and reference shots")
    pairs = _pair_nearest(pumped, ref, data.sequence, data.order)
    if pairs.size == 0:
        raise ValueError("no reference shot has a sequence as long as a pumped shot's (manifest column or global "
                         "sequence_cycles)")
    i, j = pairs.T
    return (data.cycle[i], data.direction[i], data.x_um[i] - data.x_um[j],
            np.hypot(data.x_err_um[i], data.x_err_um[j]))


def direction_differences(data: PumpData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x(+) - x(-): pumped shots of opposite directions after the same cycles, paired nearest-first in
    acquisition order. Returns ``(cycle, factor=2, dx_um, dx_err_um)``."""
    pumped = data.pumped
    pairs = _pair_nearest(np.flatnonzero(pumped.direction > 0), np.flatnonzero(pumped.direction < 0), pumped.cycle,
                          pumped.order)
    if pairs.size == 0:
        raise ValueError("the x(+) - x(-) analysis needs shots of both directions after the same cycles")
    i, j = pairs.T
    return (pumped.cycle[i], np.full(i.size, 2.0), pumped.x_um[i] - pumped.x_um[j],
            np.hypot(pumped.x_err_um[i], pumped.x_err_um[j]))


def fit_differential(cycle, factor, dx_um, dx_err_um, *, dl_um: float, name: str) -> FitReport:
    """Fit ``dx = factor * nu * dl * cycle`` (no offset: both members of a pair share it)."""
    cycle, factor, dx_um, dx_err_um = (np.asarray(a, float) for a in (cycle, factor, dx_um, dx_err_um))
    if dx_um.size < 2:
        raise ValueError(f"need at least 2 pairs for the {name} analysis, got {dx_um.size}")
    if np.all(cycle * factor == 0):
        raise ValueError(f"the {name} analysis has no pairs after a non-zero number of cycles")
    model = make_model("differential")
    lever = factor * dl_um * cycle
    guess = float(np.sum(lever * dx_um) / np.sum(lever**2))
    params = model.make_params(nu=np.clip(guess, -9.0, 9.0))
    # the excess scatter of a difference of two shots is that of two shots: s^2 per difference includes both
    first, result, excess = excess_scatter_fit(
        lambda sigma: model.fit(dx_um, params, cycle=cycle, factor=factor, dl=dl_um, weights=1.0 / sigma,
                                scale_covar=False), dx_err_um)
    return _report(name, first, result, dx_um.size, nu=result.params["nu"].value,
                   nu_err=result.params["nu"].stderr, nu_err_first=first.params["nu"].stderr, excess=excess)


def _weighted_linear_nu(cycle, direction, x, err, dl_um):
    """Closed-form weighted least squares of x = x0 + direction * nu * dl * cycle (for the bootstrap)."""
    w = 1.0 / err**2
    lever = direction * dl_um * cycle
    sw, sx, sy = w.sum(), (w * lever).sum(), (w * x).sum()
    sxx, sxy = (w * lever**2).sum(), (w * lever * x).sum()
    det = sw * sxx - sx**2
    return (sw * sxy - sx * sy) / det if det > 0 else np.nan


def bootstrap_nu(data: PumpData, *, dl_um: float, n_resamples: int = 1000, seed: int = 0,
                 excess_scatter_um: float = 0.0) -> dict:
    """Bootstrap over pumped shots of the linear model's ``nu`` (resampling shots with replacement).

    Each resample is fitted with the weights of the linear fit: ``1 / (e_i^2 + excess_scatter_um^2)``.
    Returns ``{"nu_std": ..., "nu_mean": ..., "n_resamples": ..., "seed": ...}``; the standard deviation is a
    model-independent second opinion on ``nu_err``.
    """
    pumped = data.pumped
    total_err = np.sqrt(pumped.x_err_um**2 + float(excess_scatter_um) ** 2)
    n = pumped.x_um.size
    if n < 3:
        raise ValueError("the bootstrap needs at least 3 pumped shots")
    rng = np.random.default_rng(seed)
    block = max(1, 2**20 // n)  # resamples drawn at once: at most ~8 MB of indices, whatever the run's length
    values = []
    for start in range(0, n_resamples, block):
        idx = rng.integers(0, n, size=(min(block, n_resamples - start), n))
        values += [_weighted_linear_nu(pumped.cycle[i], pumped.direction[i], pumped.x_um[i], total_err[i], dl_um)
                   for i in idx]
    values = np.array(values)
    values = values[np.isfinite(values)]
    return {"nu_std": float(np.std(values, ddof=1)), "nu_mean": float(np.mean(values)),
            "n_resamples": int(values.size), "seed": int(seed)}


def direction_consistency(report: FitReport) -> dict:
    """Test that the two pump directions move the cloud by the same amount (per_direction fit).

    Returns ``z = (nu_plus - nu_minus) / error`` and its two-sided p-value; |z| > 3 flags a direction-dependent
    systematic (e.g. a tilt of the trap, or a drift that correlates with the pump direction).
    """
    if report.model != "per_direction":
        raise ValueError("direction_consistency needs a per_direction fit")
    (a, ea), (b, eb) = report.params["nu_plus"], report.params["nu_minus"]
    corr = report.correlations.get("nu_minus/nu_plus", 0.0)
    err = math.sqrt(max(ea**2 + eb**2 - 2 * corr * ea * eb, 0.0))
    z = (a - b) / err if err > 0 else math.nan
    return {"nu_plus": a, "nu_plus_err": ea, "nu_minus": b, "nu_minus_err": eb, "z": z,
            "p_value": float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else math.nan}


def compare_models(reports: list[FitReport]) -> list[dict]:
    """Table of fits to the same points, sorted by BIC, with delta-AIC and delta-BIC to the best model."""
    if not reports:
        return []
    best_aic = min(r.aic for r in reports)
    best_bic = min(r.bic for r in reports)
    rows = [{"model": r.model, "nu": r.nu, "nu_err": r.nu_err, "reduced_chi2": r.reduced_chi2, "aic": r.aic,
             "bic": r.bic, "delta_aic": r.aic - best_aic, "delta_bic": r.bic - best_bic,
             "n_params": r.n_points - r.dof} for r in reports]
    return sorted(rows, key=lambda row: row["bic"])


def pull_statistics(pulls: np.ndarray) -> dict:
    """Mean and standard deviation of pulls (with their standard errors), coverage and a KS test against N(0,1)."""
    pulls = np.asarray(pulls, dtype=float)
    pulls = pulls[np.isfinite(pulls)]
    n = pulls.size
    if n < 2:
        raise ValueError("need at least 2 pulls")
    std = float(np.std(pulls, ddof=1))
    return {"n": int(n), "mean": float(np.mean(pulls)), "mean_err": std / math.sqrt(n), "std": std,
            "std_err": std / math.sqrt(2 * (n - 1)), "coverage_1sigma": float(np.mean(np.abs(pulls) < 1)),
            "coverage_2sigma": float(np.mean(np.abs(pulls) < 2)),
            "ks_pvalue": float(stats.kstest(pulls, "norm").pvalue)}
