"""The complete analysis of a pump run: the headline fit, its alternatives, differential analyses and checks.

Default model: ``linear`` (x = x0 + direction * nu * dl * cycle, both directions, one common offset). It
estimates the mean displacement per cycle without assuming how losses grow with the number of cycles, it has
the fewest parameters, and for a pump with a per-cycle efficiency close to 1 it is the unbiased estimator of
the slope. The alternatives (a linear drift in acquisition order, separate slopes per direction, Lohse's
per-half-cycle efficiency) are fitted to the same shots and ranked by BIC in the report; ``fit.model: auto``
takes the one with the lowest BIC as the headline instead. The differential analyses (pumped minus interleaved
reference shots; x(+) - x(-)) cancel slow drifts of the cloud position and are reported beside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from atompump.fit.analyses import (
    FitReport,
    PumpData,
    bootstrap_nu,
    compare_models,
    differential_problem,
    direction_consistency,
    direction_differences,
    fit_differential,
    fit_model,
    model_problem,
    reference_differences,
)
from atompump.fit.models import MODEL_NAMES

__all__ = ["PumpAnalysis", "analyse_pump", "headline_problem", "HEADLINE_CHOICES"]

log = logging.getLogger(__name__)

HEADLINE_CHOICES = (*MODEL_NAMES, "differential_reference", "differential_direction", "auto")


@dataclass(frozen=True)
class PumpAnalysis:
    """Everything the fit stage reports.

    Attributes
    ----------
    headline : FitReport
        The fit that gives ``nu`` and ``nu_err``.
    alternatives : dict[str, FitReport]
        Every model fitted to the pumped shots (including the headline's model when it is one of them).
    differential : dict[str, FitReport]
        ``reference`` (pumped minus reference) and/or ``direction`` (x(+) - x(-)), when the run allows them.
    comparison : list[dict]
        :func:`~atompump.fit.analyses.compare_models` of ``alternatives``.
    bootstrap : dict or None
    consistency : dict or None
        :func:`~atompump.fit.analyses.direction_consistency`.
    skipped : dict[str, str]
        Analyses that could not be done, with the reason.
    """

    headline: FitReport
    alternatives: dict
    differential: dict
    comparison: list
    bootstrap: dict | None
    consistency: dict | None
    skipped: dict = field(default_factory=dict)


def headline_problem(data: PumpData, model: str) -> str:
    """Why the headline fit ``model`` (one of :data:`HEADLINE_CHOICES`) cannot be done with the used shots of
    ``data``; empty when it can. Nothing is fitted: the fit stage calls this first, so that a run where too few
    shots pass stops with a message (or, with ``data.on_bad_shot: reject``, writes a summary without a fit).

    ``auto`` needs any one model of :data:`~atompump.fit.models.MODEL_NAMES`; the other models need what
    :func:`~atompump.fit.analyses.model_problem` and :func:`~atompump.fit.analyses.differential_problem` check.
    """
    if model not in HEADLINE_CHOICES:
        raise ValueError(f"unknown fit model {model!r}; choose one of {list(HEADLINE_CHOICES)}")
    if model.startswith("differential_"):
        return differential_problem(data, model.removeprefix("differential_"))
    if model != "auto":
        return model_problem(data, model)
    problems = {name: model_problem(data, name) for name in MODEL_NAMES}
    if all(problems.values()):
        return "no model can be fitted: " + "; ".join(f"{k}: {v}" for k, v in problems.items())
    return ""


def analyse_pump(data: PumpData, *, dl_um: float, chern_numbers: list[int] | tuple[int, ...], model: str = "linear",
                 n_bootstrap: int = 1000, seed: int = 0, step_width: float = 0.02) -> PumpAnalysis:
    """Fit ``data`` with every applicable model and choose the headline.

    Parameters
    ----------
    data : PumpData
        Used shots only.
    dl_um : float
        Long-lattice constant (um).
    chern_numbers : sequence of int
        Band Chern numbers, lowest first (the efficiency model uses the first two).
    model : str
        One of :data:`HEADLINE_CHOICES`.
    n_bootstrap : int
        Bootstrap resamples (0: no bootstrap).
    seed : int
        Seed of the bootstrap.
    """
    if model not in HEADLINE_CHOICES:
        raise ValueError(f"unknown fit model {model!r}; choose one of {list(HEADLINE_CHOICES)}")
    c1 = int(chern_numbers[0]) if len(chern_numbers) else 1
    c2 = int(chern_numbers[1]) if len(chern_numbers) > 1 else -c1
    alternatives: dict[str, FitReport] = {}
    skipped: dict[str, str] = {}
    for name in MODEL_NAMES:
        try:
            alternatives[name] = fit_model(data, name, dl_um=dl_um, chern_lower=c1, chern_upper=c2,
                                           step_width=step_width)
        except ValueError as exc:
            skipped[name] = str(exc)
            log.info("model %s skipped: %s", name, exc)
    differential: dict[str, FitReport] = {}
    for name, pairing in (("reference", reference_differences), ("direction", direction_differences)):
        try:
            differential[name] = fit_differential(*pairing(data), dl_um=dl_um, name=f"differential_{name}")
        except ValueError as exc:
            skipped[f"differential_{name}"] = str(exc)
    if model == "auto":
        if not alternatives:
            raise ValueError("no model could be fitted: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        headline = min(alternatives.values(), key=lambda r: r.bic)
    elif model.startswith("differential_"):
        key = model.removeprefix("differential_")
        if key not in differential:
            raise ValueError(f"model is {model} but {skipped.get(model, 'the analysis failed')}")
        headline = differential[key]
    else:
        if model not in alternatives:
            raise ValueError(f"the {model} fit failed: {skipped.get(model)}")
        headline = alternatives[model]
    boot = None
    if n_bootstrap > 0:
        try:
            linear = alternatives.get("linear")
            boot = bootstrap_nu(data, dl_um=dl_um, n_resamples=n_bootstrap, seed=seed,
                                excess_scatter_um=linear.excess_scatter_um if linear is not None else 0.0)
        except ValueError as exc:
            skipped["bootstrap"] = str(exc)
    consistency = direction_consistency(alternatives["per_direction"]) if "per_direction" in alternatives else None
    return PumpAnalysis(headline=headline, alternatives=alternatives, differential=differential,
                        comparison=compare_models(list(alternatives.values())), bootstrap=boot,
                        consistency=consistency, skipped=skipped)
