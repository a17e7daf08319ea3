"""Stage report: figures and the self-contained HTML report."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import json
from pathlib import Path

from atompump.io.atomic import write_text
from atompump.io.netcdf import read_dataset

__all__ = ['figures_stage', 'report_stage', 'theory_rows']

Config = Mapping[str, Any]

def figures_stage(*, com_path, summary_path, bands_path, reduced_path, out: Mapping[str, str | os.PathLike],
                  fit_path) -> None:
    """Draw the report figures: ``out`` maps 'example_od', 'com_vs_cycle', 'residuals', 'bands' to paths."""
    from atompump.report.figures import (bands_figure, com_vs_cycle_figure, od_image_figure, residuals_figure,
                                         save_figure)

    com = read_dataset(com_path)
    summary = json.loads(Path(summary_path).read_text())
    fit = read_dataset(fit_path)
    reduced = read_dataset(reduced_path)
    used_in_batch = [i for i, r in enumerate(reduced.reject_reason.values) if not r]
    i = used_in_batch[0] if used_in_batch else 0
    shot = str(reduced.shot.values[i])
    x_com = float(com.x_com_um.sel(shot=shot)) if shot in com.shot.values else None
    save_figure(od_image_figure(reduced.od.isel(shot=i), pixel_size_um=float(reduced.attrs["pixel_size_um"]),
                                x_com_um=x_com, pump_axis=str(reduced.attrs["pump_axis"]),
                                title=f"optical density, shot {shot}"), out["example_od"])
    save_figure(com_vs_cycle_figure(com, x0_um=summary["x0_um"], nu=summary["nu"], nu_err=summary["nu_err"],
                                    dl_um=summary["dl_um"], chern_number=summary["chern_number"],
                                    nu_theory=summary["nu_theory"]), out["com_vs_cycle"])
    used = com.used.values.astype(bool)
    save_figure(residuals_figure(com, fit.residual_um.values[used], reduced_chi2=summary["reduced_chi2"]),
                out["residuals"])
    save_figure(bands_figure(read_dataset(bands_path)), out["bands"])


# Captions of the theory stage's figures (rule theory_figures)
THEORY_CAPTIONS = {
    "band_structure": "Superlattice bands E_n(k) at four phases of the cycle, with each band's Chern number.",
    "berry_curvature": "Berry curvature of each band over the (k, phi) torus; its integral / 2 pi is the Chern number.",
    "wannier": "Hybrid Wannier-centre trajectories over one cycle (shaded: RMS spread from the quantum metric), "
               "drifting by C * dl, and the site Wannier functions of the two lowest bands at phi = 0.",
}


def theory_rows(theory: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """Report rows from theory.json: the expected spread of the pumped atoms and the adiabaticity estimate."""
    rows = []
    if "position_spread_um" in theory:
        rows.append(("expected RMS position spread (Wannier, theory)", theory["position_spread_um"], "um"))
    if "displacement_variance_dl2" in theory:
        rows.append(("variance of nu from the band mixture (theory)", theory["displacement_variance_dl2"], "1"))
    if theory.get("min_gaps_hz"):
        rows.append(("minimum gap above the lowest band", theory["min_gaps_hz"][0], "Hz"))
    non_adiabatic = theory.get("non_adiabatic") or {}
    if non_adiabatic.get("period_for_1pct_loss_ms") is not None:
        rows.append(("cycle period for a 1 % Landau-Zener loss", non_adiabatic["period_for_1pct_loss_ms"], "ms"))
    if non_adiabatic.get("loss_per_cycle") is not None:
        rows.append(("Landau-Zener loss per cycle at the configured period", non_adiabatic["loss_per_cycle"], "1"))
    return rows


def report_stage(out_html: str | os.PathLike, *, summary_path, com_path, figures: Mapping[str, str | os.PathLike],
                 truth_path: str | os.PathLike | None = None, config: Config | None = None,
                 title: str = "atompump report", theory_path: str | os.PathLike | None = None) -> str:
    """Assemble the self-contained HTML report."""
    from atompump import __version__
    from atompump.report.html import render_report

    s = json.loads(Path(summary_path).read_text())
    com = read_dataset(com_path)
    headline = (f"The cloud moved nu = {s['nu']:.3f} +- {s['nu_err']:.3f} lattice constants per cycle "
                f"({s['displacement_per_cycle_um']:.3f} +- {s['displacement_per_cycle_err_um']:.3f} um); the lowest "
                f"band's Chern number is {s['chern_number']:+d} (predicted nu = {s['nu_theory']:.3f}, deviation "
                f"{s['deviation_sigma']:+.1f} sigma).")
    rows = [
        ("nu (displacement per cycle / dl)", s["nu"], "1"), ("nu_err", s["nu_err"], "1"),
        ("displacement per cycle", s["displacement_per_cycle_um"], "um"),
        ("displacement per cycle error", s["displacement_per_cycle_err_um"], "um"),
        ("dl", s["dl_um"], "um"), ("Chern numbers (lowest first)", str(s["chern_numbers"]), ""),
        ("nu_theory", s["nu_theory"], "1"), ("deviation", s["deviation_sigma"], "sigma"),
        ("reduced chi^2", s["reduced_chi2"], "1"), ("shots used / total", f"{s['n_used']} / {s['n_shots']}", ""),
    ]
    if theory_path is not None:
        rows += theory_rows(json.loads(Path(theory_path).read_text()))
    from atompump.stages.com import com_report_rows

    rows += com_report_rows(com)  # estimator, errors against the Cramer-Rao bound, rejections by cause
    notes = []
    if s.get("errors_scaled"):
        notes.append(f"The scatter exceeds the per-shot errors (reduced chi^2 = {s['reduced_chi2']:.2f}); the "
                     "quoted errors are scaled by sqrt(reduced chi^2).")
    if truth_path is not None and Path(truth_path).is_file():
        truth = json.loads(Path(truth_path).read_text())
        pull = (s["nu"] - truth["nu_true"]) / s["nu_err"]
        rows.append(("nu_true (simulation input)", truth["nu_true"], "1"))
        rows.append(("recovered - true", pull, "sigma"))
    captions = {
        "example_od": "Optical density of an example shot; the line marks its centre of mass.",
        "com_vs_cycle": "Centre of mass against pump cycles for both directions, with the fit (solid) and the "
                        "Chern-number prediction nu_theory * dl (dashed).",
        "residuals": "Residuals of the fit.",
        "bands": "Lowest bands over one pump cycle (shaded: range over quasi-momentum) with their Chern numbers, "
                 "and the hybrid Wannier centres, whose drift per cycle is C * dl.",
    }
    captions.update(THEORY_CAPTIONS)
    rejected = [(str(sh), str(r)) for sh, r in zip(com.shot.values, com.reject_reason.values) if r]
    provenance = {"atompump version": __version__}
    if config is not None:
        provenance["config"] = json.dumps(config, sort_keys=True, default=str)
    text = render_report(title=title, headline=headline, summary_rows=rows,
                         figures=[(figures[k], captions[k]) for k in captions if k in figures],
                         rejected=rejected, notes=notes, provenance=provenance)
    write_text(out_html, text)
    return text
