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
    "od_image_figure",
    "pull_histogram_figure",
    "residuals_figure",
    "save_figure",
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


def com_vs_cycle_figure(com: xr.Dataset, *, x0_um: float, nu: float, nu_err: float, dl_um: float,
                        chern_number: int, nu_theory: float) -> Figure:
    """Centre of mass against pump cycles for both directions, with the fit and the theory line."""
    fig = _figure()
    ax = fig.add_subplot()
    used = com.used.values.astype(bool)
    cyc = com.cycle.values
    span = np.linspace(0.0, float(np.nanmax(cyc)) if cyc.size else 1.0, 50)
    for direction in (1, -1):
        sel = used & (com.direction.values == direction)
        if not sel.any():
            continue
        colour = DIRECTION_COLOURS[direction]
        label = "+phi" if direction == 1 else "-phi"
        ax.errorbar(cyc[sel], com.x_com_um.values[sel] - x0_um, yerr=com.x_com_err_um.values[sel], fmt="o", ms=3,
                    color=colour, alpha=0.6, label=f"shots, {label}")
        ax.plot(span, direction * nu * dl_um * span, color=colour,
                label=f"fit {label}: nu = {nu:.3f} +- {nu_err:.3f}")
        ax.plot(span, direction * nu_theory * dl_um * span, color=PALETTE["black"], ls="--", lw=1.0,
                label=f"theory: C = {chern_number:+d}, nu = {nu_theory:.3f}" if direction == 1 else None)
    rejected = ~used
    if rejected.any():
        finite = rejected & np.isfinite(com.x_com_um.values)
        ax.plot(cyc[finite], com.x_com_um.values[finite] - x0_um, "x", color=PALETTE["black"], ms=4,
                label="rejected")
    ax.set_xlabel("pump cycles")
    ax.set_ylabel("centre of mass - x0 (um)")
    ax.legend(loc="best")
    return fig


def residuals_figure(com: xr.Dataset, residuals_um: np.ndarray, *, reduced_chi2: float) -> Figure:
    """Fit residuals against pump cycles, coloured by direction."""
    fig = _figure(5.0, 2.6)
    ax = fig.add_subplot()
    used = com.used.values.astype(bool)
    cyc = com.cycle.values[used]
    direction = com.direction.values[used]
    err = com.x_com_err_um.values[used]
    for d in (1, -1):
        sel = direction == d
        if sel.any():
            ax.errorbar(cyc[sel] + 0.05 * d, residuals_um[sel], yerr=err[sel], fmt="o", ms=3,
                        color=DIRECTION_COLOURS[d], alpha=0.6, label="+phi" if d == 1 else "-phi")
    ax.axhline(0.0, color=PALETTE["black"], lw=0.8)
    ax.set_xlabel("pump cycles")
    ax.set_ylabel("residual (um)")
    ax.set_title(f"fit residuals (reduced chi^2 = {reduced_chi2:.2f})")
    ax.legend(loc="best")
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
