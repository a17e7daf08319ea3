"""Stage report: the figures (PNG and vector PDF), the PDF report and the self-contained HTML report.

Every output is reproducible: fixed figure metadata, no timestamps, sorted keys; the same inputs and config give
the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from atompump.config import config_keys
from atompump.io.atomic import atomic_path, write_text
from atompump.io.netcdf import read_dataset
from atompump.report.catalog import FIGURES
from atompump.stages.summary import RunSummary, as_summary

__all__ = [
    "draw_figures",
    "figures_before_fit_stage",
    "figures_stage",
    "quantum_spread_rows",
    "report_stage",
    "theory_rows",
    "write_pdf_report",
]

Config = Mapping[str, Any]
_MAX_PDF_REJECTED = 40


def _analysis_rows(summary: RunSummary) -> list[tuple[str, float, float]]:
    summary = as_summary(summary)
    rows = [(f"{r['model']} (BIC {r['delta_bic']:+.1f})", r["nu"], r["nu_err"]) for r in summary.models]
    for name, rep in summary.differential.items():
        rows.append((rep["model"], rep["nu"], rep["nu_err"]))
    boot = summary.bootstrap
    if boot:
        rows.append(("bootstrap (linear)", boot["nu_mean"], boot["nu_std"]))
    return rows


def draw_figures(*, com: xr.Dataset, summary: RunSummary, fit: xr.Dataset, bands: xr.Dataset, wannier: xr.Dataset,
                 example: xr.Dataset) -> dict:
    """Every figure of the catalogue as a matplotlib Figure, keyed by name.

    Every figure is drawn whatever the run: a run where no fit was possible (``summary.fit_possible`` false) gets a
    "no fit possible" panel in place of each figure that needs the fit, a run of OD images (``input: od``) shows
    the OD as read in place of the camera frames, and an example shot that cannot be read is explained in words.
    ``example`` is the reduction's example shot (``results/reduce/example.nc``,
    :func:`atompump.stages.reduce.example_shot_stage`); ``fit`` holds the headline model's curves.
    """
    summary = as_summary(summary)
    from atompump.report import figures as f
    from atompump.report import theory_figures as tf

    drawn = {
        **_shot_figures(com=com, example=example),
        **_pump_figures(com=com, summary=summary, fit=fit),
        "estimators": _estimators_figure(com),
        "trend_time": _trend_time_figure(com=com, summary=summary, fit=fit),
        "bands": f.bands_figure(bands),
        "band_structure": tf.band_structure_figure(bands),
        "berry_curvature": tf.berry_curvature_figure(bands),
        "wannier": tf.wannier_figure(wannier, bands),
    }
    missing = [spec.name for spec in FIGURES if spec.name not in drawn]
    if missing:
        raise RuntimeError(f"figures of the catalogue not drawn: {missing}")
    return {spec.name: drawn[spec.name] for spec in FIGURES}


def _shot_figures(*, com: xr.Dataset | None, example: xr.Dataset) -> dict:
    """``raw_frames``, ``fringe_removal`` and ``example_od`` of the reduction's example shot (``example.nc``); the
    centre of mass marked on ``example_od`` comes from ``com`` (none without it)."""
    from atompump.report import figures as f

    shot = str(example.attrs["shot"])
    pixel = float(example.attrs["pixel_size_um"])
    x_com = float(com.x_com_um.sel(shot=shot)) if com is not None and shot in com.shot.values else None
    od = example.od
    if np.isfinite(od.values).any():
        example_od = f.od_image_figure(od, pixel_size_um=pixel, x_com_um=x_com,
                                       pump_axis=str(example.attrs["pump_axis"]),
                                       title=f"optical density, shot {shot}")
    else:
        example_od = f.message_figure("no optical density", f"No shot of the first batch could be reduced; shot "
                                                            f"{shot}: {example.attrs['reject_reason']}")
    problem = str(example.attrs["problem"])
    if str(example.attrs["input"]) == "od":
        if problem:
            raw = f.message_figure("OD input: the image cannot be read", f"shot {shot}: {problem}")
        else:
            raw = f.od_image_figure(xr.DataArray(example.od_input.values, dims=("y", "x")), pixel_size_um=pixel,
                                    title="OD input: the OD as read, no camera frames")
            raw.suptitle(f"shot {shot}")
        fringe = f.message_figure("not applicable: OD input", _OD_INPUT_FRINGES)
        return {"raw_frames": raw, "fringe_removal": fringe, "example_od": example_od}
    if problem:
        text = f"shot {shot}: {problem}"
        return {"raw_frames": f.message_figure("the example shot cannot be read", text),
                "fringe_removal": f.message_figure("the example shot cannot be read", text),
                "example_od": example_od}
    frames = {name: example[name].values for name in ("atoms", "probe", "dark")}
    roi = [int(v) for v in np.atleast_1d(example.attrs["roi"])]
    return {
        "raw_frames": f.raw_frames_figure(frames, od.values, pixel_size_um=pixel, shot=shot),
        "fringe_removal": f.fringe_removal_figure(example.od_own.values,
                                                  example.od_clean.values if "od_clean" in example else None,
                                                  pixel_size_um=pixel, origin=(roi[0], roi[2]),
                                                  background=example.background.values.astype(bool),
                                                  photon_limit=None, shot=shot),
        "example_od": example_od,
    }


_OD_INPUT_FRINGES = ("The run's shots are optical-density images (manifest column od), not camera frames: there are "
                     "no probe frames, so no fringe removal and no photon-noise model; the OD is analysed as read.")


def _estimators_figure(com: xr.Dataset):
    """``estimators``: each estimator beside the first moment, cycle by cycle (com.nc's estimator_consistency)."""
    from atompump.report import figures as f

    consistency = json.loads(str(com.attrs.get("estimator_consistency", "{}")))
    if not any(check.get("groups") for check in consistency.values()):
        return f.message_figure("no comparison of estimators", "Fewer than three used pumped shots were measured by "
                                "the fit or the template: there is nothing to compare with the first moment.")
    return f.estimators_figure(consistency, headline=str(com.attrs.get("estimator", "")))


def _pump_figures(*, com: xr.Dataset, summary: RunSummary, fit: xr.Dataset) -> dict:
    """``com_vs_cycle``, ``residuals`` and ``models``; a "no fit possible" panel each when there is no fit."""
    summary = as_summary(summary)
    from atompump.report import figures as f

    if not summary.fit_possible:
        text = summary.fit_message or "No fit was possible."
        return {name: f.message_figure("no fit possible", text) for name in ("com_vs_cycle", "residuals", "models")}
    head = summary.headline
    blinded = bool(summary.blinded)
    fit_label = (f"{head['model']} fit: nu{' (BLINDED)' if blinded else ''} = {summary.nu:.3f} +- "
                 f"{summary.nu_err:.3f}")
    centres = com.assign(x_com_um=("shot", fit_centres(com, fit)))  # blinded centres in a blind analysis
    drawn = {
        "com_vs_cycle": f.com_vs_cycle_figure(centres, x0_um=summary.x0_um, fit_label=fit_label,
                                              curves=fit_curves(fit),
                                              dl_um=summary.dl_um, chern_number=summary.chern_number,
                                              nu_theory=summary.nu_theory),
        "residuals": f.residuals_figure(com, fit.residual_um.values, fit.pull.values,
                                        reduced_chi2=summary.reduced_chi2),
        "models": f.models_figure(_analysis_rows(summary), nu_theory=summary.nu_theory,
                                  chern_number=summary.chern_number),
    }
    if blinded:
        for name in ("com_vs_cycle", "models"):
            drawn[name].suptitle("BLINDED: nu carries a hidden offset (atompump unblind results)", fontsize=8,
                                 color="#D55E00")
    return drawn


_BAND_MIXTURE_SPREAD = ("per-particle spread of the displacement per cycle over the band mixture, "
                        "sum p C^2 - (sum p C)^2 (theory)")


def theory_rows(theory: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """Report rows from theory.json: the expected spread of the pumped atoms and the adiabaticity estimate."""
    rows = []
    if "position_spread_um" in theory:
        rows.append(("expected RMS position spread (Wannier, theory)", theory["position_spread_um"], "um"))
    if "displacement_variance_dl2" in theory:
        rows.append((_BAND_MIXTURE_SPREAD, theory["displacement_variance_dl2"], "dl^2"))
    if theory.get("min_gaps_hz"):
        rows.append(("minimum gap above the lowest band", theory["min_gaps_hz"][0], "Hz"))
    non_adiabatic = theory.get("non_adiabatic") or {}
    if non_adiabatic.get("period_for_1pct_loss_ms") is not None:
        rows.append(("cycle period for a 1 % non-adiabatic loss in the first cycle (this start)",
                     non_adiabatic["period_for_1pct_loss_ms"], "ms"))
    if non_adiabatic.get("start_loss") is not None:
        rows += [
            ("non-adiabatic loss from the start of the ramp (band 2 population)", non_adiabatic["start_loss"], "1"),
            ("non-adiabatic loss per later cycle (two gap minima, band-averaged)",
             non_adiabatic["loss_per_later_cycle"], "1"),
            ("displacement per cycle from these losses (two bands, no trap; estimate)",
             non_adiabatic["displacement_per_cycle_estimate_dl"], "dl"),
        ]
    rows += interacting_theory_rows(theory)
    return rows


def quantum_spread_rows(theory: Mapping[str, Any], com: xr.Dataset, fit: xr.Dataset | None) -> list[tuple[str, Any, str]]:
    """Report rows of the quantum spread (issue 12): Omega_I, its bound by the Chern number, and the shot-to-shot
    scatter of the centre of mass that quantum fluctuations alone give for the run's atom number, beside the
    measured scatter (RMS of the fit residuals of the used shots, ``fit.nc``'s ``residual_um``).

    The atom number N is the median ``atom_number`` of the used shots of ``com.nc``; the expected scatter is
    :func:`atompump.theory.spread.com_quantum_scatter` at cycle 0 and at the run's last cycle.
    """
    from atompump.theory.spread import com_quantum_scatter

    geometry = theory.get("quantum_geometry")
    if not geometry:
        return []
    dl = float(theory["dl_um"])
    rows: list[tuple[str, Any, str]] = [
        ("quantum position spread per particle Omega_I, populated bands at phi = 0 (theory)",
         geometry["omega_I_populated_um2"], "um^2"),
        ("Omega_I of the lowest band averaged over the cycle (theory)", geometry["omega_I_mean_um2"][0], "um^2"),
    ]
    ratio = geometry["bound_ratio"][0]
    if ratio is not None:
        rows.append(("<Omega_I>_phi * G_phiphi / (C^2 dl^2 / 4), lowest band (bound: >= 1)", ratio, "1"))
    violations = (f"{max(geometry['metric_inequality_violation']):.2g} / "
                  f"{max(geometry['metric_inequality_violation_uniform']):.2g}")
    rows.append(("largest violation of sqrt(det g) >= |Omega| / 2, refined / uniform mesh", violations,
                 "of the peak"))
    used = com.used.values.astype(bool)
    atoms = com.atom_number.values[used] if "atom_number" in com else np.array([])
    atoms = atoms[np.isfinite(atoms) & (atoms > 0)]
    if atoms.size:
        n_atoms = float(np.median(atoms))
        variance = float(theory.get("displacement_variance_dl2") or 0.0)
        last = float(np.nanmax(com.cycle.values[used])) if used.any() else 0.0
        start = com_quantum_scatter(geometry["omega_I_populated_um2"], n_atoms)
        end = com_quantum_scatter(geometry["omega_I_populated_um2"], n_atoms, cycles=last, dl_um=dl,
                                  displacement_spread_dl2=variance)
        text = f"{start:.3g}" if end - start < 1e-3 * start else f"{start:.3g} (cycle 0) to {end:.3g} (cycle {last:g})"
        label = (f"expected shot-to-shot scatter of the centre of mass from quantum fluctuations, "
                 f"sqrt(Omega_I / N), N = {n_atoms:.4g} atoms (median)")
        rows.append((label, text, "um"))
    if fit is not None and "residual_um" in fit:
        residual = fit.residual_um.values
        residual = residual[np.isfinite(residual)]
        if residual.size > 1:
            rows.append(("measured shot-to-shot scatter of the centre of mass (RMS residual of the fit)",
                         float(np.sqrt(np.mean(residual**2))), "um"))
    return rows


def interacting_theory_rows(theory: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """Rows of the interacting prediction (``theory.interaction``, issue 13) beside the non-interacting one."""
    inter = theory.get("interacting")
    if not inter:
        return []
    what = (f"{inter['particles'].replace('_', ' ')}, U = {inter['U_Er']:.3g} Er,s, ring of {inter['n_cells']} cells "
            f"(dimension {inter['hilbert_dimension']})")
    return [("nu_theory without interactions", theory["nu_theory"], "1"),
            (f"nu_theory with interactions ({what})", inter["nu_theory_interacting"], "1"),
            ("many-body Chern number (atoms per cycle through a cut)", inter["chern_number"], "1"),
            ("minimum many-body gap over twist and cycle", inter["min_gap"], "Er,s")]


def _summary_rows(s: RunSummary) -> list[tuple[str, object, str]]:
    s = as_summary(s)
    if not s.fit_possible:
        return _no_fit_rows(s)
    rows = [
        ("nu (displacement per cycle / dl)" + (" BLINDED: hidden offset" if s.blinded else ""),
         f"{s.nu:.4f} +- {s.nu_err:.4f}", "1"),
        ("displacement per cycle", f"{s.displacement_per_cycle_um:.4f} +- {s.displacement_per_cycle_err_um:.4f}",
         "um"),
        ("dl", s.dl_um, "um"),
        ("Chern numbers (lowest first)", str(s.chern_numbers), ""),
        ("nu_theory (full prediction for this run)",
         f"{s.nu_theory:.4f}" + (f" +- {s.nu_theory_err:.4f}" if s.nu_theory_err else ""), "1"),
        *_theory_source_rows(s),
        ("deviation from theory", f"{s.deviation_sigma:+.2f}", "sigma"),
    ]
    if s.efficiency is not None:
        rows.append(("efficiency per cycle nu / C", f"{s.efficiency:.4f} +- {s.efficiency_err:.4f}", "1"))
    beta = s.alternatives.get("efficiency", {}).get("beta")
    if beta is not None:
        rows.append(("efficiency per half cycle beta (efficiency model)",
                     f"{beta:.4f} +- {s.alternatives['efficiency']['beta_err']:.4f}", "1"))
    if s.beta_landau_zener is not None:
        rows.append(("efficiency per half cycle, band-averaged Landau-Zener estimate (theory)", f"{s.beta_landau_zener:.4f}", "1"))
    rows += [
        ("headline model", s.fit_model, ""),
        ("reduced chi^2", s.reduced_chi2, "1"),
        ("shots used / total", f"{s.n_used} / {s.n_shots}", ""),
    ]
    if s.bootstrap:
        rows.append(("bootstrap std of nu (second opinion)", s.bootstrap["nu_std"], "1"))
    return rows


def _notes(s: RunSummary) -> list[str]:
    s = as_summary(s)
    notes = ([s.blind_note] if s.blinded else []) + _input_notes(s)
    if not s.fit_possible:
        return notes + [s.fit_message or "No fit was possible."]
    if s.errors_scaled:
        excess = (s.headline or {}).get("excess_scatter_um", float("nan"))
        notes.append(f"The scatter exceeds the per-shot errors (reduced chi^2 = {s.reduced_chi2:.2f}): a "
                     f"shot-to-shot scatter of {excess:.3f} um (position jitter) is added in quadrature to every "
                     "shot's error, and the quoted errors are those of that fit.")
    boot = s.bootstrap
    if boot and s.nu_err > 0 and not 0.7 < boot["nu_std"] / s.nu_err < 1.4:
        notes.append(f"The bootstrap error of nu ({boot['nu_std']:.4f}) differs from the fit error "
                     f"({s.nu_err:.4f}) by more than 40 %: the per-shot errors or the model may be off.")
    cons = s.direction_consistency
    if cons and np.isfinite(cons["z"]) and abs(cons["z"]) > 3:
        notes.append(f"The two pump directions disagree: nu(+) = {cons['nu_plus']:.4f} +- {cons['nu_plus_err']:.4f}, "
                     f"nu(-) = {cons['nu_minus']:.4f} +- {cons['nu_minus_err']:.4f} ({cons['z']:+.1f} sigma).")
    best = s.models[0] if s.models else None
    if best and best["model"] != s.fit_model and best["delta_bic"] == 0:
        second = next((r for r in s.models if r["model"] == s.fit_model), None)
        if second and second["delta_bic"] > 10:
            notes.append(f"The {best['model']} model describes the data much better than the headline "
                         f"{s.fit_model} model (delta BIC = {second['delta_bic']:.1f}); consider fit.model: "
                         f"{best['model']} or auto.")
    if s.beta_vs_landau_zener_sigma is not None:
        beta = s.alternatives["efficiency"]["beta"]
        notes.append(f"Non-adiabatic losses: the fitted efficiency per half cycle beta = {beta:.4f} is "
                     f"{s.beta_vs_landau_zener_sigma:+.1f} sigma from the band-averaged Landau-Zener estimate "
                     f"{s.beta_landau_zener:.4f} at the configured cycle period.")
    for name, rep in s.differential.items():
        diff = (rep["nu"] - s.nu) / np.hypot(rep["nu_err"], s.nu_err)
        if abs(diff) > 3:
            notes.append(f"The {rep['model']} analysis gives nu = {rep['nu']:.4f} +- {rep['nu_err']:.4f}, "
                         f"{diff:+.1f} sigma from the headline: a drift of the cloud position is likely.")
    return notes


def _headline(s: RunSummary) -> str:
    s = as_summary(s)
    if not s.fit_possible:
        return (f"No fit was possible: {s.n_used} of {s.n_shots} shots passed the quality cuts, too few for the "
                f"{s.fit_model_requested} fit. Every rejected shot is listed below with its reason.")
    prefix = ("BLINDED ANALYSIS (nu carries a hidden offset; `atompump unblind results` reveals it): "
              if s.blinded else "")
    return prefix + (f"The cloud moved nu = {s.nu:.3f} +- {s.nu_err:.3f} lattice constants per cycle "
                     f"({s.displacement_per_cycle_um:.3f} +- {s.displacement_per_cycle_err_um:.3f} um); the "
                     f"lowest band's Chern number is {s.chern_number:+d}; the full prediction for this sequence "
                     f"is nu = {s.nu_theory:.3f} (deviation {s.deviation_sigma:+.1f} sigma).")


def _no_fit_rows(s: RunSummary) -> list[tuple[str, object, str]]:
    """Summary rows of a run without a fit: the fit was not possible, the shots, the theory."""
    s = as_summary(s)
    rows = [("fit", f"not possible ({s.fit_model_requested}): see the note", ""),
            ("shots used / total", f"{s.n_used} / {s.n_shots}", ""),
            ("dl", s.dl_um, "um"),
            ("Chern numbers (lowest first)", str(s.chern_numbers), ""),
            ("nu_theory (full prediction for this run)", f"{s.nu_theory:.4f}", "1"),
            *_theory_source_rows(s)]
    return rows


def _theory_source_rows(s: RunSummary) -> list[tuple[str, object, str]]:
    """The ideal value beside the full prediction, and where the prediction comes from."""
    s = as_summary(s)
    if s.nu_chern is None:
        return []
    return [("nu_chern = sum_n p_n C_n (ideal: adiabatic, no trap)", f"{s.nu_chern:.4f}", "1"),
            ("nu_theory from", s.nu_theory_source, "")]


_OD_INPUT_NOTE = ("OD input: the reduction was skipped; per-shot errors come from the noise measured in each shot's "
                  "atom-free pixels alone (no camera noise model).")


def _input_notes(s: RunSummary) -> list[str]:
    """What the report must say about the kind of input (``summary.input``)."""
    s = as_summary(s)
    return [_OD_INPUT_NOTE] if s.input == "od" else []


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _text_page(lines: list[str], *, title: str = ""):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.27, 11.69))
    FigureCanvasAgg(fig)
    if title:
        fig.text(0.07, 0.95, title, fontsize=14, weight="bold", va="top")
    fig.text(0.07, 0.91 if title else 0.95, "\n".join(lines), fontsize=8, family="monospace", va="top")
    return fig


def _wrap(text: str, width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def write_pdf_report(path: str | os.PathLike, *, title: str, summary: RunSummary, drawn: dict, rejected: list,
                     provenance: dict, extra_specs: tuple = ()) -> None:
    """Multi-page PDF: the summary, every figure (vector) with its caption, the tables and the provenance.

    ``drawn`` holds the catalogue's figures and those of ``extra_specs`` (e.g. the trends)."""
    summary = as_summary(summary)
    from matplotlib.backends.backend_pdf import PdfPages

    lines = _wrap(_headline(summary)) + [""]
    lines += [f"{name:<52} {_cell(value):<28} {unit}" for name, value, unit in _summary_rows(summary)]
    lines += [""] + [w for note in _notes(summary) for i, part in enumerate(note.splitlines())
                     for w in _wrap(("NOTE: " if i == 0 else "  ") + part)]
    if summary.models:
        lines += ["", "Models fitted to the same shots (sorted by BIC):",
                  f"{'model':<16}{'nu':>10}{'nu_err':>10}{'chi2_red':>10}{'dAIC':>8}{'dBIC':>8}"]
    lines += [f"{r['model']:<16}{r['nu']:>10.4f}{r['nu_err']:>10.4f}{r['reduced_chi2']:>10.2f}{r['delta_aic']:>8.1f}"
              f"{r['delta_bic']:>8.1f}" for r in summary.models]
    for rep in summary.differential.values():
        lines.append(f"{rep['model']:<24} nu = {rep['nu']:.4f} +- {rep['nu_err']:.4f}")
    captions = {spec.name: spec for spec in (*FIGURES, *extra_specs)}
    with atomic_path(path, suffix=".pdf") as tmp, PdfPages(tmp, metadata={"Creator": None, "Producer": None,
                                                                          "CreationDate": None}) as pdf:
        pdf.savefig(_text_page(lines, title=title))
        for name, fig in drawn.items():
            spec = captions[name]
            fig.suptitle(spec.title, fontsize=10) if name != "raw_frames" else None
            pdf.savefig(fig)
        tail = [f"Rejected shots: {len(rejected)}"]
        tail += [f"  {shot} [{cause}]: {reason}"[:110] for shot, cause, reason in rejected[:_MAX_PDF_REJECTED]]
        if len(rejected) > _MAX_PDF_REJECTED:
            tail.append(f"  ... and {len(rejected) - _MAX_PDF_REJECTED} more (see the HTML report)")
        tail += ["", "Provenance:"]
        for key, value in provenance.items():
            if key == "config":
                tail += ["  config:"] + ["    " + ln for ln in str(value).splitlines()]
            elif isinstance(value, dict):
                tail += [f"  {key}:"] + [f"    {k}: {v}" for k, v in value.items()]
            else:
                tail.append(f"  {key}: {value}")
        pdf.savefig(_text_page(tail[:110], title="Rejected shots and provenance"))


def figures_before_fit_stage(*, bands_path, wannier_path, example_path, out_dir: str | os.PathLike) -> None:
    """Draw the figures of :data:`atompump.report.catalog.BEFORE_FIT` (the theory's and the example shot's frames:
    they need no centre of mass nor fit) into ``out_dir`` as ``<name>.png`` and ``<name>.pdf``: the same files
    :func:`figures_stage` would write, in a job that runs while the centres of mass are measured."""
    from atompump.report import figures as f
    from atompump.report import theory_figures as tf
    from atompump.report.catalog import BEFORE_FIT

    bands, wannier = read_dataset(bands_path), read_dataset(wannier_path)
    drawn = {**_shot_figures(com=None, example=read_dataset(example_path)), "bands": f.bands_figure(bands),
             "band_structure": tf.band_structure_figure(bands), "berry_curvature": tf.berry_curvature_figure(bands),
             "wannier": tf.wannier_figure(wannier, bands)}
    _save_figures({name: drawn[name] for name in BEFORE_FIT}, out_dir)


def _save_figures(drawn: dict, out_dir: str | os.PathLike) -> None:
    """Each figure as ``<name>.png`` and ``<name>.pdf`` in ``out_dir``."""
    from atompump.report.figures import save_figure

    for name, fig in drawn.items():
        save_figure(fig, Path(out_dir) / f"{name}.png")
        save_figure(fig, Path(out_dir) / f"{name}.pdf")


def figures_stage(*, com_path, summary_path, fit_path, bands_path, wannier_path, example_path,
                  out_dir: str | os.PathLike, pdf_path: str | os.PathLike,
                  provenance_path, title: str = "atompump report", trend_globals: tuple[str, ...] = (),
                  before_fit_drawn: bool = False) -> None:
    """Draw every catalogue figure and the trend figures (:func:`draw_trend_figures`, ``trend_globals`` being
    ``report.trend_globals``) into ``out_dir`` as ``<name>.png`` and ``<name>.pdf``, and the PDF report. Only
    reads: the example shot's panels come from ``example_path`` (``results/reduce/example.nc``), the fitted curves
    from ``fit_path`` (``fit.nc``). With ``before_fit_drawn`` the files of
    :data:`~atompump.report.catalog.BEFORE_FIT` are left as :func:`figures_before_fit_stage` wrote them (their
    figures are still drawn for the PDF report).

    Raises
    ------
    ConfigError
        A name of ``trend_globals`` is not a per-shot global of ``com.nc`` (checked before anything is drawn).
    """
    from atompump.report.catalog import BEFORE_FIT, trend_figures

    com = read_dataset(com_path)
    summary = RunSummary.read(summary_path)
    fit = read_dataset(fit_path)
    trends = draw_trend_figures(com=com, summary=summary, fit=fit, trend_globals=trend_globals, com_path=com_path)
    drawn = draw_figures(com=com, summary=summary, fit=fit, bands=read_dataset(bands_path),
                         wannier=read_dataset(wannier_path), example=read_dataset(example_path))
    drawn.update(trends)
    _save_figures({name: fig for name, fig in drawn.items() if not (before_fit_drawn and name in BEFORE_FIT)},
                  out_dir)
    write_pdf_report(pdf_path, title=title, summary=summary, drawn=drawn, rejected=_rejected(com),
                     provenance=json.loads(Path(provenance_path).read_text()),
                     extra_specs=trend_figures(trend_globals))


def fit_curves(fit: xr.Dataset) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The headline model's x - x0 (um) per direction, on fit.nc's grid of cycles (``x_curve_um``)."""
    grid = fit.curve_cycle.values
    return {int(d): (grid, fit.x_curve_um.sel(curve_direction=d).values) for d in fit.curve_direction.values}


# --- trends against acquisition time and any global (issue 14, item 4) ---------------------------------------------

def fit_centres(com: xr.Dataset, fit: xr.Dataset) -> np.ndarray:
    """The centres the fit saw, per shot of ``com`` (um): fit.nc's ``x_centre_um`` (blinded in a blind analysis),
    else com.nc's ``x_com_um``."""
    if "x_centre_um" in fit.variables:
        return fit["x_centre_um"].values.astype(float)
    return com.x_com_um.values.astype(float)


def _trend_centre(com: xr.Dataset, summary: RunSummary, fit: xr.Dataset) -> tuple[np.ndarray, str]:
    """The centre the trend figures show (:func:`atompump.report.trends.unpumped_centre`) and its label."""
    summary = as_summary(summary)
    from atompump.report.trends import unpumped_centre

    nu = summary.nu if summary.fit_possible else None
    return unpumped_centre(com, x_um=fit_centres(com, fit), nu=nu, dl_um=float(summary.dl_um),
                           x0_um=summary.x0_um)


def _trend_time_figure(*, com: xr.Dataset, summary: RunSummary, fit: xr.Dataset):
    """``trend_time``: the trends against acquisition time (or order)."""
    summary = as_summary(summary)
    from atompump.report.trends import acquisition_axis, trend_figure

    centre, label = _trend_centre(com, summary, fit)
    return trend_figure(com, acquisition_axis(com), centre_um=centre, centre_label=label)


def draw_trend_figures(*, com: xr.Dataset, summary: RunSummary, fit: xr.Dataset, trend_globals=(),
                       com_path: str | os.PathLike = "com.nc") -> dict:
    """The trend figures of ``trend_globals`` (:func:`atompump.report.catalog.trend_figures`) keyed by name: centre
    minus the pumped displacement, atom number and width against each global.

    Raises
    ------
    ConfigError
        A global that ``com`` does not have (:func:`atompump.report.trends.global_axis`), naming
        ``report.trend_globals``, before anything is drawn.
    """
    from atompump.report.catalog import trend_figures
    from atompump.report.trends import global_axis, trend_figure

    with config_keys({"name": "report.trend_globals"}):
        axes = [global_axis(com, name, source=str(com_path)) for name in trend_globals]
    summary = as_summary(summary)
    centre, label = _trend_centre(com, summary, fit)
    return {spec.name: trend_figure(com, axis, centre_um=centre, centre_label=label)
            for spec, axis in zip(trend_figures(trend_globals), axes)}


def _rejected(com: xr.Dataset) -> list[tuple[str, str, str]]:
    """The rejected shots: (shot, code of the cause, reason), in run order."""
    return [(str(shot), str(cause), str(reason)) for shot, cause, reason
            in zip(com.shot.values, com.reject_cause.values, com.reject_reason.values) if reason]


def report_stage(out_html: str | os.PathLike, *, summary_path, com_path, figures_dir: str | os.PathLike,
                 provenance_path, truth_path: str | os.PathLike | None = None,
                 theory_path: str | os.PathLike | None = None, title: str = "atompump report",
                 recovery_path: str | os.PathLike | None = None,
                 recovery_figure: str | os.PathLike | None = None,
                 fit_path: str | os.PathLike | None = None,
                 scan_figure: str | os.PathLike | None = None, trend_globals: tuple[str, ...] = ()) -> str:
    """Assemble the self-contained HTML report from the figures, the summary and the provenance.

    With ``theory_path`` and ``fit_path`` (``fit.nc``) the quantum-spread rows (:func:`quantum_spread_rows`) put the
    centre-of-mass scatter expected from quantum fluctuations beside the measured one. ``scan_figure`` (PNG of the
    rule superlattice_scan, ``report.superlattice_scan``) adds the Chern numbers over the lattice depths. The trend
    figures of ``trend_globals`` (``report.trend_globals``) follow the catalogue's figures.

    A run with a truth (simulated or injected) adds the recovery table of ``recovery_path`` (``recovery.json``) and
    the per-shot pull histogram ``recovery_figure`` (PNG).
    """
    from atompump.report.html import render_report

    s = RunSummary.read(summary_path)
    com = read_dataset(com_path)
    rows = [(n, v, u) for n, v, u in _summary_rows(s)]
    if theory_path is not None:
        theory = json.loads(Path(theory_path).read_text())
        rows += theory_rows(theory)
        rows += quantum_spread_rows(theory, com, read_dataset(fit_path) if fit_path is not None else None)
    from atompump.stages.com import com_report_rows, estimator_table

    rows += com_report_rows(com)  # estimator and why, errors against the Cramer-Rao bound, rejections by cause
    if truth_path is not None and Path(truth_path).is_file():
        truth = json.loads(Path(truth_path).read_text())
        rows.append(("nu_true (simulation input)", truth["nu_true"], "1"))
        if s.nu is not None:  # None: no fit was possible
            rows.append(("recovered - true", f"{(s.nu - truth['nu_true']) / s.nu_err:+.2f}", "sigma"))
    tables = [("Models fitted to the same shots",
               ["model", "nu", "nu_err", "reduced chi^2", "delta AIC", "delta BIC", "parameters"],
               [(r["model"], r["nu"], r["nu_err"], r["reduced_chi2"], r["delta_aic"], r["delta_bic"], r["n_params"])
                for r in s.models])] if s.models else []
    extra = [(rep["model"], rep["nu"], rep["nu_err"], rep["reduced_chi2"], rep["n_points"])
             for rep in s.differential.values()]
    if extra:
        tables.append(("Differential analyses", ["analysis", "nu", "nu_err", "reduced chi^2", "pairs"], extra))
    if s.correlations:
        tables.append(("Parameter correlations of the headline fit", ["parameters", "correlation"],
                       list(s.correlations.items())))
    if s.skipped:
        tables.append(("Analyses not possible for this run", ["analysis", "reason"], list(s.skipped.items())))
    consistency = estimator_table(com)
    if consistency is not None:
        tables.append(consistency)
    provenance = json.loads(Path(provenance_path).read_text())
    from atompump.report.catalog import trend_figures

    figures = [(Path(figures_dir) / f"{spec.name}.png", spec.title, spec.caption)
               for spec in (*FIGURES, *trend_figures(trend_globals))]
    tables, figures = _with_recovery(tables, figures, recovery_path, recovery_figure)
    if scan_figure is not None and Path(scan_figure).is_file():
        from atompump.report.catalog import SCAN_FIGURE

        figures.append((Path(scan_figure), SCAN_FIGURE.title, SCAN_FIGURE.caption))
    text = render_report(title=title, headline=_headline(s), summary_rows=rows, notes=_notes(s), tables=tables,
                         figures=figures, rejected=_rejected(com), provenance=provenance)
    write_text(out_html, text)
    return text


def _with_recovery(tables: list, figures: list, recovery_path, recovery_figure) -> tuple[list, list]:
    """The report's tables and figures with the recovery table and pull histogram of a run with a truth."""
    from atompump.report.catalog import TRUTH_FIGURES
    from atompump.stages.recovery import recovery_table

    if recovery_path is not None and Path(recovery_path).is_file():
        tables = [recovery_table(json.loads(Path(recovery_path).read_text())), *tables]
    if recovery_figure is not None and Path(recovery_figure).is_file():
        spec = TRUTH_FIGURES[0]
        figures = [*figures, (Path(recovery_figure), spec.title, spec.caption)]
    return tables, figures
