"""Figures of the report, drawn with matplotlib's object API (no pyplot state, no global backend).

Every function returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it reproducibly (no
software or date metadata), so identical inputs give identical bytes.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from atompump.io.atomic import atomic_path

__all__ = [
    "PALETTE",
    "bands_figure",
    "com_vs_cycle_figure",
    "fringe_removal_figure",
    "message_figure",
    "od_image_figure",
    "models_figure",
    "pull_histogram_figure",
    "raw_frames_figure",
    "residuals_figure",
    "save_figure",
    "shot_pulls_figure",
]

# Okabe & Ito colour-blind-safe palette
PALETTE = {
    "black": "#000000",
    "orange": "#E69F00",
    "skyblue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
DIRECTION_COLOURS = {1: PALETTE["blue"], -1: PALETTE["vermillion"]}
_RC = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8}


def _figure(width: float = 5.0, height: float = 3.4) -> Figure:
    fig = Figure(figsize=(width, height), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike) -> None:
    """Save ``fig`` atomically as PNG, PDF or SVG (by suffix) with fixed metadata."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    metadata = {
        ".png": {"Software": None},
        ".pdf": {"Creator": None, "Producer": None, "CreationDate": None},
        ".svg": {"Creator": None, "Date": None},
    }.get(suffix)
    if metadata is None:
        raise ValueError(f"unsupported figure format {suffix!r}; use .png, .pdf or .svg")
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": "atompump", **_RC}), atomic_path(path) as tmp:
        fig.savefig(tmp, format=suffix[1:], metadata=metadata)


def od_image_figure(od: xr.DataArray, *, pixel_size_um: float, x_com_um: float | None = None,
                    pump_axis: str = "x", title: str = "") -> Figure:
    """Optical density of one shot with its centre of mass marked; axes in um."""
    fig = _figure(5.0, 3.0)
    ax = fig.add_subplot()
    ny, nx = od.shape
    # an OD cut to its region of interest carries the frame's pixel indices as x/y coordinates
    x0 = float(od.x.values[0]) if "x" in od.coords else 0.0
    y0 = float(od.y.values[0]) if "y" in od.coords else 0.0
    extent = ((x0 - 0.5) * pixel_size_um, (x0 + nx - 0.5) * pixel_size_um, (y0 + ny - 0.5) * pixel_size_um,
              (y0 - 0.5) * pixel_size_um)
    image = ax.imshow(np.asarray(od), extent=extent, cmap="viridis", interpolation="nearest")
    if x_com_um is not None and np.isfinite(x_com_um):
        if pump_axis == "x":
            ax.axvline(x_com_um, color=PALETTE["orange"], lw=1.0, label="centre of mass")
        else:
            ax.axhline(x_com_um, color=PALETTE["orange"], lw=1.0, label="centre of mass")
        ax.legend(loc="upper right")
    ax.set_xlabel("x (um)")
    ax.set_ylabel("y (um)")
    ax.set_title(title or "optical density")
    fig.colorbar(image, ax=ax, label="OD")
    return fig


def com_vs_cycle_figure(com: xr.Dataset, *, x0_um: float, curves: dict[int, tuple[np.ndarray, np.ndarray]],
                        fit_label: str, dl_um: float, chern_number: int, nu_theory: float) -> Figure:
    """Centre of mass against pump cycles for both directions, with the fitted curves and the theory line.

    Parameters
    ----------
    com : Dataset
        ``com.nc``.
    x0_um : float
        Fitted offset, subtracted from every point.
    curves : dict
        direction -> (cycles, fitted x - x0 in um) of the headline model.
    fit_label : str
        Legend text of the fit (e.g. 'linear fit: nu = 0.96 +- 0.01').
    """
    fig = _figure(5.2, 3.6)
    ax = fig.add_subplot()
    used = com.used.values.astype(bool)
    reference = com["reference"].values.astype(bool) if "reference" in com.variables else np.zeros(used.size, bool)
    cyc = com.cycle.values
    x = com.x_com_um.values - x0_um
    err = com.x_com_err_um.values
    span = np.linspace(0.0, float(np.nanmax(cyc)) if cyc.size else 1.0, 50)
    for direction in (1, -1):
        colour = DIRECTION_COLOURS[direction]
        label = "+phi" if direction == 1 else "-phi"
        sel = used & ~reference & (com.direction.values == direction)
        if sel.any():
            ax.errorbar(cyc[sel], x[sel], yerr=err[sel], fmt="o", ms=3, color=colour, alpha=0.5,
                        label=f"shots, {label}")
        if direction in curves:
            grid, values = curves[direction]
            ax.plot(grid, values, color=colour, label=f"{fit_label}" if direction == 1 else None)
        if sel.any():
            ax.plot(span, direction * nu_theory * dl_um * span, color=PALETTE["black"], ls="--", lw=1.0,
                    label=f"theory: C = {chern_number:+d}, nu = {nu_theory:.3f}" if direction == 1 else None)
    if (used & reference).any():
        sel = used & reference
        ax.errorbar(cyc[sel], x[sel], yerr=err[sel], fmt="s", ms=3, color=PALETTE["green"], alpha=0.5,
                    label="reference (constant phi)")
    rejected = ~used & np.isfinite(x)
    if rejected.any():
        ax.plot(cyc[rejected], x[rejected], "x", color=PALETTE["black"], ms=4, label="rejected")
    ax.set_xlabel("pump cycles")
    ax.set_ylabel("centre of mass - x0 (um)")
    ax.legend(loc="best")
    return fig


def residuals_figure(com: xr.Dataset, residuals_um: np.ndarray, pulls: np.ndarray, *, reduced_chi2: float) -> Figure:
    """Fit residuals (um) and pulls against pump cycles, coloured by direction.

    ``residuals_um`` and ``pulls`` have one entry per shot of ``com`` (NaN where the shot is not in the fit).
    """
    fig = _figure(5.0, 4.2)
    ax_r, ax_p = fig.subplots(2, 1, sharex=True)
    cyc = com.cycle.values
    direction = com.direction.values
    err = com.x_com_err_um.values
    for d in (1, -1):
        sel = (direction == d) & np.isfinite(residuals_um)
        if sel.any():
            label = "+phi" if d == 1 else "-phi"
            ax_r.errorbar(cyc[sel] + 0.05 * d, residuals_um[sel], yerr=err[sel], fmt="o", ms=3,
                          color=DIRECTION_COLOURS[d], alpha=0.6, label=label)
            ax_p.plot(cyc[sel] + 0.05 * d, pulls[sel], "o", ms=3, color=DIRECTION_COLOURS[d], alpha=0.6)
    for ax in (ax_r, ax_p):
        ax.axhline(0.0, color=PALETTE["black"], lw=0.8)
    for level in (-1.0, 1.0):
        ax_p.axhline(level, color=PALETTE["black"], lw=0.6, ls=":")
    ax_r.set_ylabel("residual (um)")
    ax_r.set_title(f"fit residuals (reduced chi^2 = {reduced_chi2:.2f})")
    ax_r.legend(loc="best")
    ax_p.set_xlabel("pump cycles")
    ax_p.set_ylabel("pull (residual / error)")
    return fig


def estimators_figure(consistency: dict, *, headline: str) -> Figure:
    """Each estimator minus the first moment, mean over the used pumped shots of every (cycle, direction), with its
    error, and the least-squares drift per cycle (from ``com.nc``'s ``estimator_consistency``): a constant offset is
    harmless, a drift means the estimator does not follow the centre of mass. ``headline`` is the headline's
    estimator (named in the title)."""
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot()
    colours = {"fit": PALETTE["blue"], "template": PALETTE["orange"]}
    markers = {1: "o", -1: "s"}
    for name, check in sorted(consistency.items()):
        groups = check.get("groups", [])
        if not groups:
            continue
        u = np.array([g["direction"] * g["cycle"] for g in groups])
        mean = np.array([g["mean_um"] for g in groups])
        err = np.array([g["err_um"] if np.isfinite(g["err_um"]) else 0.0 for g in groups])
        for d in (1, -1):
            sel = np.array([g["direction"] == d for g in groups])
            if sel.any():
                ax.errorbar(u[sel], mean[sel], yerr=err[sel], fmt=markers[d], ms=4, color=colours.get(name),
                            label=f"{name} - moment ({'+phi' if d == 1 else '-phi'})")
        if "slope_um_per_cycle" in check:
            grid = np.linspace(u.min(), u.max(), 2)
            offset = float(np.mean(mean) - check["slope_um_per_cycle"] * np.mean(u))
            ax.plot(grid, offset + check["slope_um_per_cycle"] * grid, color=colours.get(name), lw=1.0, ls="--",
                    label=f"{name}: drift {check['slope_um_per_cycle']:+.2g} um/cycle ({check['slope_sigma']:+.1f} "
                          "sigma)")
    ax.set_xlabel("direction x pump cycles (cycles)")
    ax.set_ylabel("estimator - first moment (um)")
    ax.set_title(f"estimator - first moment (headline: {headline})")
    ax.legend(loc="best", fontsize=7)
    return fig


def models_figure(rows: list[tuple[str, float, float]], *, nu_theory: float, chern_number: int) -> Figure:
    """Displacement per cycle from each analysis (label, nu, error) with the theory value."""
    fig = _figure(5.0, 0.9 + 0.32 * max(len(rows), 1))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    for yi, (label, nu, err) in zip(y, rows):
        ax.errorbar([nu], [yi], xerr=[err], fmt="o", ms=4, color=PALETTE["blue"], capsize=2)
    ax.axvline(nu_theory, color=PALETTE["black"], ls="--", lw=1.0)
    ax.set_yticks(y, [label for label, _, _ in rows])
    ax.set_xlabel("displacement per cycle nu (units of dl)")
    ax.set_title(f"dashed: theory, C = {chern_number:+d}, nu = {nu_theory:.3f}")
    return fig


def raw_frames_figure(frames: dict[str, np.ndarray], od: np.ndarray, *, pixel_size_um: float,
                      shot: str = "") -> Figure:
    """The atoms, probe and dark frames of one shot (counts) and its optical density."""
    fig = _figure(6.4, 4.4)
    axes = fig.subplots(2, 2, sharex=True, sharey=True)
    ny, nx = od.shape
    extent = (-0.5 * pixel_size_um, (nx - 0.5) * pixel_size_um, (ny - 0.5) * pixel_size_um, -0.5 * pixel_size_um)
    panels = [(frames["atoms"], "atoms (counts)"), (frames["probe"], "probe (counts)"),
              (frames["dark"], "dark (counts)"), (od, "optical density")]
    for ax, (image, label) in zip(axes.flat, panels):
        shown = ax.imshow(np.asarray(image), extent=extent, cmap="viridis" if "optical" in label else "gray",
                          interpolation="nearest")
        fig.colorbar(shown, ax=ax, label=label, shrink=0.85)
    for ax in axes[1]:
        ax.set_xlabel("x (um)")
    for ax in axes[:, 0]:
        ax.set_ylabel("y (um)")
    fig.suptitle(f"shot {shot}" if shot else "example shot")
    return fig


def bands_figure(bands: xr.Dataset) -> Figure:
    """Band energies over the pump cycle (range over k shaded) and hybrid Wannier centres."""
    fig = _figure(6.0, 3.0)
    ax_e, ax_w = fig.subplots(1, 2)
    colours = [PALETTE["blue"], PALETTE["vermillion"], PALETTE["green"], PALETTE["purple"], PALETTE["orange"]]
    phi = bands.phi.values / np.pi
    for i, band in enumerate(bands.band.values):
        energy = bands.energy.sel(band=band)
        colour = colours[i % len(colours)]
        c = int(bands.chern_number.sel(band=band))
        low, high = energy.min("k"), energy.max("k")
        ax_e.fill_between(phi, low, high, color=colour, alpha=0.4, lw=0)
        ax_e.plot(phi, low, color=colour, lw=1.0, label=f"band {band}, C = {c:+d}")
        ax_e.plot(phi, high, color=colour, lw=1.0)
        ax_w.plot(bands.phi_w.values / np.pi, bands.wannier_centre.sel(band=band) / bands.attrs["dl_um"],
                  color=colour, label=f"band {band}")
    ax_e.set_xlabel("phi / pi")
    ax_e.set_ylabel("energy (Er,s)")
    ax_e.set_title("bands over the cycle")
    ax_e.legend(loc="lower right", framealpha=0.9)
    ax_w.set_xlabel("phi / pi")
    ax_w.set_ylabel("Wannier centre / dl")
    ax_w.set_title("hybrid Wannier centres")
    return fig


def pull_histogram_figure(pulls: np.ndarray, *, title: str = "") -> Figure:
    """Histogram of pulls (nu - nu_true) / nu_err with the standard normal density for comparison."""
    from scipy import stats

    pulls = np.asarray(pulls, dtype=float)
    fig = _figure(4.5, 3.2)
    ax = fig.add_subplot()
    bins = np.linspace(-4.0, 4.0, 33)
    ax.hist(pulls, bins=bins, density=True, color=PALETTE["skyblue"], edgecolor=PALETTE["blue"],
            label=f"{pulls.size} runs: mean {pulls.mean():+.3f}, std {pulls.std(ddof=1):.3f}")
    grid = np.linspace(-4.0, 4.0, 200)
    ax.plot(grid, stats.norm.pdf(grid), color=PALETTE["vermillion"], label="N(0, 1)")
    ax.set_xlabel("pull (nu - nu_true) / nu_err")
    ax.set_ylabel("probability density")
    ax.set_title(title or "injection-recovery calibration")
    ax.legend(loc="upper left")
    return fig


def fringe_removal_figure(od_own: np.ndarray, od_clean: np.ndarray | None, *, pixel_size_um: float,
                          origin: tuple[int, int], background: np.ndarray, photon_limit: float | None,
                          shot: str = "") -> Figure:
    """Optical density of one shot with its own probe frame as reference, with the fringe-free reference, and
    their difference (the fringes removed); the titles give the RMS OD over the background pixels.

    Parameters
    ----------
    od_own, od_clean : ndarray, shape (ny, nx)
        OD over the region of interest; ``od_clean`` None when fringe removal is off.
    origin : (row, column)
        Frame pixel of the region's corner (axes in um of the frame).
    background : ndarray of bool, shape (ny, nx)
        Pixels without atoms, for the RMS.
    photon_limit : float or None
        Expected RMS OD from photon shot noise alone over the background.
    """
    fig = _figure(8.4, 3.0)
    panels = [(od_own, "own probe frame")]
    if od_clean is not None:
        panels += [(od_clean, "fringe-free reference"), (od_own - od_clean, "difference (fringes removed)")]
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharex=True, sharey=True))
    ny, nx = od_own.shape
    y0, x0 = origin
    extent = ((x0 - 0.5) * pixel_size_um, (x0 + nx - 0.5) * pixel_size_um, (y0 + ny - 0.5) * pixel_size_um,
              (y0 - 0.5) * pixel_size_um)
    scale = float(np.nanpercentile(np.abs(od_own[background]), 99)) if background.any() else 0.1
    for i, (ax, (image, label)) in enumerate(zip(axes, panels)):
        rms = float(np.nanstd(image[background])) if background.any() else float("nan")
        diff = i == 2
        shown = ax.imshow(image, extent=extent, interpolation="nearest", cmap="RdBu_r" if diff else "viridis",
                          vmin=-scale if diff else -scale, vmax=scale if diff else float(np.nanmax(od_own)))
        ax.set_title(f"{label}\nbackground RMS OD {rms:.4f}", fontsize=8)
        ax.set_xlabel("x (um)")
        fig.colorbar(shown, ax=ax, shrink=0.8, label="OD")
    axes[0].set_ylabel("y (um)")
    note = f"shot {shot}" if shot else ""
    if photon_limit is not None:
        note += f"; photon-shot-noise limit of the background: RMS OD {photon_limit:.4f}"
    if od_clean is None:
        note += "; fringe removal is off (imaging.fringe_removal: false)"
    fig.suptitle(note.strip("; "), fontsize=8)
    return fig


def message_figure(title: str, text: str, *, width: float = 5.0, height: float = 3.0) -> Figure:
    """A panel that says, in words, why a figure cannot be drawn (e.g. "no fit possible"), for a report whose
    figure files must all exist.

    Parameters
    ----------
    title : str
        Large text at the top, e.g. ``"no fit possible"``.
    text : str
        The explanation; lines are wrapped to the panel's width, and long texts cut with an ellipsis.
    """
    import textwrap

    fig = _figure(width, height)
    ax = fig.add_subplot()
    ax.set_axis_off()
    wrapped = [w for line in text.splitlines() for w in (textwrap.wrap(line, int(14 * width)) or [""])]
    if len(wrapped) > 14:
        wrapped = wrapped[:13] + ["..."]
    ax.text(0.5, 0.97, title, ha="center", va="top", fontsize=13, weight="bold", color=PALETTE["vermillion"],
            transform=ax.transAxes)
    ax.text(0.0, 0.82, "\n".join(wrapped), ha="left", va="top", fontsize=7, family="monospace",
            transform=ax.transAxes)
    return fig


def shot_pulls_figure(pulls: dict[str, np.ndarray], *, default: str = "") -> Figure:
    """Histograms of the per-shot pulls ``(x - x_true - bias) / x_err`` of each estimator (a run with a truth), with
    the standard normal density: honest per-shot errors give the unit-width curve. ``default`` names the headline
    estimator (drawn filled)."""
    from scipy import stats

    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot()
    finite = [np.asarray(v, float) for v in pulls.values() if np.size(v)]
    largest = max((float(np.max(np.abs(v))) for v in finite), default=4.0)
    limit = float(np.clip(1.1 * largest, 4.0, 40.0))
    bins = np.linspace(-limit, limit, 41)
    colours = [PALETTE[c] for c in ("blue", "orange", "green", "purple", "vermillion", "skyblue")]
    for (name, values), colour in zip(pulls.items(), colours):
        values = np.clip(np.asarray(values, float), -limit, limit)
        if not values.size:
            continue
        std = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
        label = f"{name}{' (headline)' if name == default else ''}: {values.size} shots, std {std:.2f}"
        ax.hist(values, bins=bins, density=True, histtype="stepfilled" if name == default else "step",
                alpha=0.35 if name == default else 1.0, color=colour, lw=1.2, label=label)
    grid = np.linspace(-limit, limit, 400)
    ax.plot(grid, stats.norm.pdf(grid), color=PALETTE["black"], lw=1.0, ls="--", label="N(0, 1)")
    ax.set_xlabel("per-shot pull (x - x_true - bias) / x_err")
    ax.set_ylabel("probability density")
    ax.set_title("per-shot pulls against the truth")
    ax.legend(loc="upper left", fontsize=7)
    return fig
