"""The report's figures: one entry per figure, shared by the HTML report, the PDF report and the Snakemake
report (whose caption files ``workflow/report/<name>.rst`` must carry the same caption; a test checks it)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BEFORE_FIT", "FigureSpec", "FIGURES", "SCAN_FIGURE", "TREND_CAPTION", "TRUTH_FIGURES", "figure_names",
           "trend_figures"]


@dataclass(frozen=True)
class FigureSpec:
    """A figure of the report: file stem, section title, caption and Snakemake report category."""

    name: str
    title: str
    caption: str
    category: str


# trends: the figure trend_time of the catalogue, and one per global of report.trend_globals
# (:func:`trend_figures`); one caption for all (workflow/report/trend_time.rst and trends.rst)
TREND_CAPTION = ("Centre of mass minus the fitted pumped displacement direction * nu * dl * cycle and offset x0 (top; "
                 "it does not depend on nu, so it stays the same in a blind analysis), atom number and RMS cloud width "
                 "along the pump axis of every shot against acquisition time (or acquisition order when the run "
                 "records no time) or against a per-shot global named in report.trend_globals: drifts and "
                 "calibration scans show as trends. Pumped shots by direction, constant-phi reference shots as "
                 "squares, rejected shots as crosses.")


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("raw_frames", "Raw frames of an example shot",
               "Camera frames of the first used shot in counts (atoms, probe, dark) and the optical density computed "
               "from them; axes in um in the object plane.", "Images"),
    FigureSpec("fringe_removal", "Fringe removal before and after",
               "Optical density of the first used shot over its region of interest with its own probe frame as the "
               "reference (left), with the fringe-free reference fitted from the basis of the run's probe frames "
               "outside the atoms (middle), and their difference (right): the fringes removed. The titles give the "
               "RMS optical density of the pixels without atoms.", "Images"),
    FigureSpec("example_od", "Optical density and centre of mass",
               "Optical density of the first used shot; the line marks its centre of mass along the pump axis.",
               "Images"),
    FigureSpec("com_vs_cycle", "Centre of mass against pump cycles",
               "Centre of mass (relative to the fitted offset x0) against pump cycles for both pump directions, with "
               "the headline fit (solid) and the Chern-number prediction nu_theory * dl per cycle (dashed); rejected "
               "shots are marked with crosses.", "Pump"),
    FigureSpec("residuals", "Residuals and pulls",
               "Residuals of the fit in um (top) and pulls, residual over its error (bottom), against pump cycles; "
               "for honest errors the pulls scatter with unit width.", "Pump"),
    FigureSpec("estimators", "Estimators beside the first moment",
               "Each centre estimator minus the first moment (the centre of mass itself), averaged over the used "
               "pumped shots of every cycle and direction, with its error, against direction times pump cycles; the "
               "dashed lines are the fitted drift per cycle. A constant offset is harmless (it cancels in the "
               "displacement per cycle); a drift means the estimator does not follow the centre of mass, e.g. the "
               "cloud changes shape as it is pumped. com.nc's estimator_reason says which estimator the headline "
               "uses and why.", "Pump"),
    FigureSpec("models", "Displacement per cycle by analysis",
               "Displacement per cycle nu from every model fitted to the same shots, the differential analyses and "
               "the bootstrap, with one-sigma errors; the dashed line is the theory value.", "Pump"),
    FigureSpec("trend_time", "Trends against acquisition time", TREND_CAPTION, "Trends"),
    FigureSpec("bands", "Bands and Wannier centres over the cycle",
               "Lowest superlattice bands over one pump cycle (shaded: range over quasi-momentum) with their Chern "
               "numbers, and the hybrid Wannier centres, whose drift per cycle is C times dl.", "Theory"),
    FigureSpec("band_structure", "Band structure",
               "Superlattice bands E_n(k) at four phases of the pump cycle, with each band's Chern number (physics.md "
               "sign: C > 0 when the band's Wannier centre moves towards +x as phi increases).", "Theory"),
    FigureSpec("berry_curvature", "Berry curvature",
               "Berry curvature Omega_n(k, phi) of each band over the (k, phi) torus, in units of dl; its integral over "
               "the torus divided by 2 pi is the band's Chern number, given in each title. Drawn cell by cell on a mesh "
               "refined where the fields vary fast (the peaks at the small gaps near phi = 0 and pi are a few "
               "hundredths of a radian wide). Middle: 2 sqrt(det g) from the quantum metric on the same scale, which "
               "bounds |Omega| (equal where two bands dominate). Bottom: both along phi through the curvature's "
               "peak, one marker per refined cell.", "Theory"),
    FigureSpec("wannier", "Wannier centres and functions",
               "Left: hybrid Wannier centres of the lowest bands over one pump cycle (shaded: the RMS spread from the "
               "quantum metric); each drifts by C times dl. Right: the maximally localised Wannier functions of the "
               "two lowest bands at phi = 0 (the double-well sites A and B of the Rice-Mele mapping) on the scaled "
               "potential.", "Theory"),
)

# figures of a run with a truth (simulated or injected), drawn by the 'recovery' rule
TRUTH_FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("recovery_pulls", "Per-shot pulls against the truth",
               "Histogram of the per-shot pulls (x - x_true - bias) / x_err of each estimator over the used pumped "
               "shots of a run with a known truth (simulated or injected), with the standard normal density "
               "(dashed): honest per-shot errors give pulls of unit width. The bias is each estimator's mean offset "
               "from the true first moment; the numbers are in the report's recovery table "
               "(results/fit/recovery.json).", "Pump"),
)

# drawn by the 'superlattice_scan' rule when report.superlattice_scan is true
SCAN_FIGURE = FigureSpec(
    "superlattice_scan", "Chern numbers against the lattice depths",
    "Band Chern numbers of the superlattice over a grid of short- and long-lattice depths (grey: a gap closes or is not "
    "resolved there), computed as by atompump theory superlattice-scan. The solid line is the exact transition Vs = "
    "(Vl/4)^2 / 4 (Vs in Er,s, Vl in Er,l), where the gap between bands 2 and 3 closes and band 2's Chern number "
    "changes sign; the dotted line is Lohse et al.'s scan of Vs at Vl = 25 Er,l; the star is this run's lattice.",
    "Theory")


# figures that need neither the centres of mass nor the fit: the theory's and the example shot's frames, drawn
# by their own job as soon as theory.json and the reduction are done (rule figures_before_fit), off the run's
# critical path (issue 15, item 6); the PDF report still holds them
BEFORE_FIT = ("raw_frames", "fringe_removal", "bands", "band_structure", "berry_curvature", "wannier")


def figure_names() -> list[str]:
    """File stems of the catalogue's figures, in report order."""
    return [spec.name for spec in FIGURES]


def trend_figures(trend_globals=()) -> tuple[FigureSpec, ...]:
    """The figures ``trend_<name>`` of the globals named in ``report.trend_globals``, in that order (the trend
    against acquisition time, ``trend_time``, is in :data:`FIGURES`)."""
    return tuple(FigureSpec(f"trend_{name}", f"Trends against {name}", TREND_CAPTION, "Trends")
                 for name in trend_globals)
