"""The run's summary (``results/fit/summary.json``) as a typed structure: what the fit stage writes and the report,
the tests and the command line read.

:class:`RunSummary` documents every key. The fit stage builds one (:func:`atompump.stages.fit.fit_stage`) and
writes it with :meth:`RunSummary.write`; readers use :meth:`RunSummary.read` (an unknown or missing key is an
error naming the file). The JSON keeps its plain form (the same keys as fields; keys of ``OPTIONAL`` fields are left
out when they are None), so the file is still read by any JSON reader.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from atompump.errors import InputDataError

__all__ = ["OPTIONAL", "RunSummary", "as_summary"]

# keys written only when they have a value (a blinded run, a theory with crossings)
OPTIONAL = ("blind_check", "blind_note", "beta_landau_zener", "beta_vs_landau_zener_sigma")


@dataclass(frozen=True)
class RunSummary:
    """``summary.json``: the displacement per cycle, its comparison with theory and how the run got there.

    Numbers of the fit are None when no fit was possible (``fit_possible`` false). Lengths in um, ``nu`` and its
    relatives in units of the long-lattice period ``dl`` (dimensionless).

    Attributes
    ----------
    nu, nu_err : float or None
        Displacement per pump cycle / dl of the headline fit and its error (scaled by sqrt(reduced chi^2) when
        ``errors_scaled``).
    displacement_per_cycle_um, displacement_per_cycle_err_um : float or None
        ``nu * dl_um`` and its error, um.
    x0_um, x0_err_um : float or None
        Fitted centre at cycle 0, um (NaN for a differential headline).
    dl_um : float
        Long-lattice period lambda_l / 2, um.
    chern_number : int
        Chern number of the lowest band (theory).
    chern_numbers : list of int
        Chern numbers of the computed bands, lowest first.
    nu_theory, nu_theory_err : float
        The full prediction for this run's used shots (:func:`atompump.stages.fit.predicted_nu`) and its error.
    nu_chern : float
        sum_n p_n C_n: the ideal (adiabatic, trap-free) displacement per cycle.
    nu_theory_source : str
        Where ``nu_theory`` comes from, in words.
    deviation_sigma : float or None
        (nu - nu_theory) / sqrt(nu_err^2 + nu_theory_err^2).
    efficiency, efficiency_err : float or None
        nu / C and its error (None when C = 0).
    n_shots, n_used, n_rejected, n_reference : int
        Shots in the run, used by the fit, rejected, and constant-phi references among the used ones.
    reduced_chi2 : float or None
        Of the headline fit.
    errors_scaled : bool or None
        Whether the errors were scaled by sqrt(reduced chi^2).
    fit_model, fit_model_requested : str or None
        The headline model, and ``fit.model`` as configured (``auto`` chooses).
    correlations : dict
        Parameter correlations of the headline fit, keyed ``a/b``.
    headline : dict or None
        The headline fit (:meth:`atompump.fit.FitReport.summary`).
    models : list of dict
        Every model fitted to the same shots, sorted by BIC (:func:`atompump.fit.compare_models`).
    alternatives, differential : dict
        Each model's / differential analysis' :meth:`~atompump.fit.FitReport.summary`, by name.
    bootstrap : dict or None
        The bootstrap over shots (``nu_mean``, ``nu_std``, ...).
    direction_consistency : dict or None
        nu(+) against nu(-) (:func:`atompump.fit.direction_consistency`).
    skipped : dict
        Analyses not possible for this run, with the reason.
    fit_possible : bool
        False when too few shots passed the cuts (``data.on_bad_shot: reject``); ``fit_message`` says why.
    fit_message : str
        Why no fit was possible (empty otherwise).
    input : str
        ``frames`` (camera frames) or ``od`` (optical-density images).
    rejected_by_cause : dict
        Rejected shots counted by cause.
    blinded : bool
        ``fit.blind``: every nu carries a hidden offset.
    theory_band_populations : list of float or None
        The band populations of the theory (theory.json ``band_populations``).
    theory_non_adiabatic : dict or None
        theory.json's ``non_adiabatic`` estimate.
    blind_check, blind_note : str or None
        A blinded run: the secret's fingerprint and the note the report shows.
    beta_landau_zener : float or None
        Band-averaged Landau-Zener efficiency per half cycle (theory), when the theory has crossings.
    beta_vs_landau_zener_sigma : float or None
        The fitted efficiency model's beta against ``beta_landau_zener``, in sigma.
    """

    dl_um: float
    chern_number: int
    chern_numbers: list
    nu_theory: float
    nu_theory_err: float
    nu_chern: float
    nu_theory_source: str
    n_shots: int
    n_used: int
    n_rejected: int
    n_reference: int
    fit_model_requested: str
    fit_possible: bool
    fit_message: str
    input: str
    rejected_by_cause: dict
    blinded: bool
    theory_band_populations: list | None
    theory_non_adiabatic: dict | None
    nu: float | None = None
    nu_err: float | None = None
    displacement_per_cycle_um: float | None = None
    displacement_per_cycle_err_um: float | None = None
    x0_um: float | None = None
    x0_err_um: float | None = None
    deviation_sigma: float | None = None
    efficiency: float | None = None
    efficiency_err: float | None = None
    reduced_chi2: float | None = None
    errors_scaled: bool | None = None
    fit_model: str | None = None
    headline: dict | None = None
    bootstrap: dict | None = None
    direction_consistency: dict | None = None
    correlations: dict = field(default_factory=dict)
    models: list = field(default_factory=list)
    alternatives: dict = field(default_factory=dict)
    differential: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    blind_check: str | None = None
    blind_note: str | None = None
    beta_landau_zener: float | None = None
    beta_vs_landau_zener_sigma: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field by name, ``OPTIONAL`` ones only when set."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in out.items() if not (k in OPTIONAL and v is None)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "summary") -> RunSummary:
        """From the JSON form.

        Raises
        ------
        InputDataError
            A key that is not a field, or a required field missing (``source`` names the file).
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise InputDataError(f"{source}: unknown keys {unknown}; it was written by another version of atompump: "
                                 "run the fit again")
        try:
            return cls(**values)
        except TypeError as exc:
            raise InputDataError(f"{source}: {exc}; run the fit again") from exc

    @classmethod
    def read(cls, path: str | os.PathLike) -> RunSummary:
        """Read ``summary.json`` (:meth:`from_dict`)."""
        return cls.from_dict(json.loads(Path(path).read_text()), source=str(path))

    def write(self, path: str | os.PathLike) -> None:
        """Write ``summary.json`` atomically, keys sorted (the same summary, the same bytes)."""
        from atompump.io.atomic import write_json

        write_json(path, self.to_dict())


def as_summary(summary: RunSummary | dict[str, Any]) -> RunSummary:
    """``summary`` as a :class:`RunSummary` (a dict in the JSON form is converted, :meth:`RunSummary.from_dict`)."""
    return summary if isinstance(summary, RunSummary) else RunSummary.from_dict(dict(summary))
