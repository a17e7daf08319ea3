"""Figures of the theory stage: band structure over the cycle, Berry curvature maps and Wannier-centre trajectories.

Same conventions as :mod:`atompump.report.figures` (matplotlib object API, Okabe–Ito colours, saved with
:func:`atompump.report.figures.save_figure`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from atompump.report.figures import PALETTE, _figure

__all__ = ["band_structure_figure", "berry_curvature_figure", "superlattice_scan_figure", "wannier_figure"]

BAND_COLOURS = [PALETTE["blue"], PALETTE["vermillion"], PALETTE["green"], PALETTE["purple"], PALETTE["orange"],
                PALETTE["skyblue"]]


def _chern_label(bands: xr.Dataset, band) -> str:
    return f"band {int(band)}, C = {int(bands.chern_number.sel(band=band)):+d}"


def band_structure_figure(bands: xr.Dataset, phases=(0.0, 0.5, 1.0, 1.5)) -> Figure:
    """Bands E_n(k) at several phases of the cycle (in units of pi), one panel each, with the Chern numbers."""
    fig = _figure(7.0, 2.8)
    axes = fig.subplots(1, len(phases), sharey=True)
    dl = float(bands.attrs["dl_um"])
    k = bands.k.values * dl / np.pi  # in units of pi / dl
    k_plot = np.where(k > 1, k - 2, k)
    order = np.argsort(k_plot)
    for ax, phase in zip(np.atleast_1d(axes), phases):
        sel = bands.sel(phi=phase * np.pi, method="nearest")
        for i, band in enumerate(bands.band.values):
            ax.plot(k_plot[order], sel.energy.sel(band=band).values[order], color=BAND_COLOURS[i % len(BAND_COLOURS)],
                    label=_chern_label(bands, band))
        ax.set_title(f"phi = {float(sel.phi) / np.pi:.2f} pi")
        ax.set_xlabel("k (pi / dl)")
    first = np.atleast_1d(axes)[0]
    first.set_ylabel("energy (Er,s)")  # bands.nc: units "1", the recoil energy Er,s named in long_name (CF)
    first.legend(loc="best", framealpha=0.9)
    return fig


def berry_curvature_figure(bands: xr.Dataset) -> Figure:
    """Berry curvature Omega_n(k, phi) of each band as a map, titled with the band's Chern number.

    With the locally refined fields of :mod:`atompump.theory.adaptive` (``berry_curvature_fine``, ...) the maps are
    drawn cell by cell on the refined mesh (phi from -pi/2 to 3 pi/2), and a second row shows ``2 sqrt(det g)`` from the quantum metric on the
    same colour scale (it bounds ``|Omega|`` from above, with equality where two bands dominate); a third row
    zooms on the narrowest peak in phi. Without them (an older bands.nc), the uniform mesh alone.
    """
    if "berry_curvature_fine" not in bands:
        return _uniform_curvature_figure(bands)
    n = bands.sizes["band"]
    fig = _figure(2.4 * n + 0.6, 7.6)
    axes = np.atleast_2d(fig.subplots(3, n, squeeze=False))
    dl = float(bands.attrs["dl_um"])
    k_edges = bands.k_fine_edge.values * dl / np.pi
    # phi from -pi/2 to 3 pi/2, so that the peaks at the small gaps (phi = 0 and pi) are inside the maps
    edges = bands.phi_fine_edge.values
    cut = int(np.argmin(np.abs(edges - 1.5 * np.pi)))
    phi_edges = np.concatenate([edges[cut:-1] - 2.0 * np.pi, edges[: cut + 1]]) / np.pi

    def shifted(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values[:, cut:], values[:, :cut]], axis=1)
    det = (bands.quantum_metric_kk_fine * bands.quantum_metric_phiphi_fine - bands.quantum_metric_kphi_fine**2)
    bound = 2.0 * np.sqrt(det.clip(min=0.0)) / dl
    for col, band in enumerate(bands.band.values):
        omega = bands.berry_curvature_fine.sel(band=band).values / dl  # dimensionless (per dk dl)
        root = bound.sel(band=band).values
        limit = float(np.abs(omega).max()) or 1.0
        for row, values in enumerate([omega, root]):
            ax = axes[row, col]
            image = ax.pcolormesh(phi_edges, k_edges, shifted(values), cmap="RdBu_r" if row == 0 else "viridis",
                                  vmin=-limit if row == 0 else 0.0, vmax=limit, shading="flat", rasterized=True)
            fig.colorbar(image, ax=ax, label="Omega / dl" if row == 0 else "2 sqrt(det g) / dl")
            ax.set_xlabel("phi / pi")
        _peak_cut(axes[2, col], bands.phi_fine.values, bands.k_fine.values * dl / np.pi, omega, root)
        axes[0, col].set_title(_chern_label(bands, band))
        axes[1, col].set_title("metric bound 2 sqrt(det g)", fontsize=8)
    for row in range(2):
        axes[row, 0].set_ylabel("k (pi / dl)")
    axes[2, 0].set_ylabel("value / dl")
    return fig


def _peak_cut(ax, phi: np.ndarray, k_pi: np.ndarray, omega: np.ndarray, root: np.ndarray) -> None:
    """|Omega| and 2 sqrt(det g) along phi through the curvature's peak, centred on it, one marker per refined
    cell (the mesh resolves the peak when the markers follow a smooth curve)."""
    i, j = np.unravel_index(np.argmax(np.abs(omega)), omega.shape)
    centre = phi[j]
    offset = (phi - centre + np.pi) % (2.0 * np.pi) - np.pi
    order = np.argsort(offset)
    profile = np.abs(omega[i])[order]
    start = stop = int(np.flatnonzero(order == j)[0])
    while start > 0 and profile[start - 1] >= 0.5 * profile.max():
        start -= 1
    while stop < profile.size - 1 and profile[stop + 1] >= 0.5 * profile.max():
        stop += 1
    half_width = max(float(offset[order][stop] - offset[order][start]) / 2.0, float(np.diff(np.sort(phi)).min()))
    window = min(10.0 * half_width, np.pi)
    ax.plot(offset[order] / np.pi, profile, color=PALETTE["vermillion"], marker=".", ms=3, lw=0.8,
            label="|Omega|")
    ax.plot(offset[order] / np.pi, root[i][order], color=PALETTE["blue"], ls="--", lw=0.8, label="2 sqrt(det g)")
    ax.set_xlim(-window / np.pi, window / np.pi)
    ax.set_xlabel(f"(phi - {centre / np.pi:.3f} pi) / pi")
    ax.set_title(f"cut through the peak, k = {k_pi[i]:.2f} pi / dl", fontsize=8)
    ax.legend(loc="upper right", fontsize=6, framealpha=0.9)


def _uniform_curvature_figure(bands: xr.Dataset) -> Figure:
    """The curvature maps on the uniform (k, phi) mesh alone."""
    n = bands.sizes["band"]
    fig = _figure(2.4 * n + 0.6, 2.8)
    axes = np.atleast_1d(fig.subplots(1, n))
    dl = float(bands.attrs["dl_um"])
    k = bands.k.values * dl / np.pi
    phi = bands.phi.values / np.pi
    dk, dphi = k[1] - k[0], phi[1] - phi[0]
    extent = (phi[0], phi[-1] + dphi, k[0], k[-1] + dk)
    for ax, band in zip(axes, bands.band.values):
        omega = bands.berry_curvature.sel(band=band).values / dl  # dimensionless (per dk dl)
        limit = float(np.abs(omega).max()) or 1.0
        image = ax.imshow(omega, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r", vmin=-limit,
                          vmax=limit, interpolation="nearest")
        ax.set_title(_chern_label(bands, band))
        ax.set_xlabel("phi / pi")
        fig.colorbar(image, ax=ax, label="Omega / dl")
    axes[0].set_ylabel("k (pi / dl)")
    return fig


def wannier_figure(wannier: xr.Dataset, bands: xr.Dataset) -> Figure:
    """Hybrid Wannier-centre trajectories over the cycle (RMS spread shaded) and the site Wannier functions."""
    with_functions = "wannier_function" in wannier
    fig = _figure(7.0 if with_functions else 4.2, 3.0)
    if with_functions:
        ax_c, ax_w = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1.0]})
    else:
        ax_c, ax_w = fig.subplots(), None
    dl = float(wannier.attrs["dl_um"])
    phi = wannier.phi_w.values / np.pi
    for i, band in enumerate(wannier.band.values):
        colour = BAND_COLOURS[i % len(BAND_COLOURS)]
        x = wannier.wannier_centre.sel(band=band).values
        x = (x - np.floor(x[0] / dl) * dl) / dl
        width = np.sqrt(wannier.wannier_spread.sel(band=band).values) / dl
        ax_c.fill_between(phi, x - width, x + width, color=colour, alpha=0.2, lw=0)
        ax_c.plot(phi, x, color=colour, label=f"{_chern_label(bands, band)}: drift {x[-1] - x[0]:+.3f} dl")
    ax_c.set_xlabel("phi / pi")
    ax_c.set_ylabel("Wannier centre / dl")
    ax_c.set_title("hybrid Wannier centres (shaded: RMS spread)")
    ax_c.legend(loc="best", framealpha=0.9)
    if ax_w is None:  # no double-well Wannier functions (e.g. a sliding lattice)
        return fig
    x_um = wannier.x.values
    potential = wannier.potential.values
    span = float(np.abs(wannier.wannier_function).max())
    scale = span / max(float(np.ptp(potential)), 1e-12)
    ax_w.plot(x_um / dl, (potential - potential.min()) * scale - span, color=PALETTE["black"], lw=0.8,
              label="potential (scaled)")
    for i, site in enumerate(wannier.site.values):
        ax_w.plot(x_um / dl, wannier.wannier_function.sel(site=site).values,
                  color=[PALETTE["orange"], PALETTE["skyblue"]][i % 2], label=f"site {site}")
    ax_w.set_xlabel("x / dl")
    ax_w.set_ylabel("w(x) (um^-1/2)")
    phi_w = float(wannier.attrs.get("wannier_function_phi", 0.0)) / np.pi
    ax_w.set_title(f"site Wannier functions, phi = {phi_w:.2g} pi")
    ax_w.legend(loc="upper right", framealpha=0.9)
    return fig


def superlattice_scan_figure(scan: xr.Dataset, *, lattice: tuple[float, float] | None = None) -> Figure:
    """Band Chern numbers over (Vl, Vs) (:func:`atompump.theory.scan.superlattice_chern_scan`), one panel per band,
    with the exact sign change of band 2 at Vs = (Vl/4)^2 / 4 (Vl in Er,l, Vs in Er,s), Lohse's scan at
    Vl = 25 Er,l and, if given, the configured lattice ``(Vs_Er, Vl_Er)``; grey: no Chern number (gap closed)."""
    from matplotlib.colors import ListedColormap

    n = scan.sizes["band"]
    fig = _figure(2.6 * n + 0.8, 3.0)
    axes = np.atleast_1d(fig.subplots(1, n, sharey=True))
    vs, vl = scan.Vs.values, scan.Vl.values

    def edges(values):
        if values.size == 1:
            return np.array([values[0] - 0.5, values[0] + 0.5])
        mids = 0.5 * (values[1:] + values[:-1])
        return np.concatenate([[2 * values[0] - mids[0]], mids, [2 * values[-1] - mids[-1]]])

    cmap = ListedColormap([PALETTE["blue"], PALETTE["skyblue"], "#f0f0f0", PALETTE["orange"],
                           PALETTE["vermillion"]]).with_extremes(bad="#9e9e9e")
    line_vl = np.linspace(edges(vl)[0], edges(vl)[-1], 200)
    for ax, band in zip(axes, scan.band.values):
        chern = scan.chern_number.sel(band=band).values
        image = ax.pcolormesh(edges(vl), edges(vs), np.ma.masked_invalid(chern), cmap=cmap, vmin=-2.5, vmax=2.5,
                              shading="flat")
        for i, a in enumerate(vs):
            for j, b in enumerate(vl):
                if np.isfinite(chern[i, j]) and vs.size * vl.size <= 200:
                    ax.text(b, a, f"{int(chern[i, j]):+d}", ha="center", va="center", fontsize=5)
        ax.plot(line_vl, (line_vl / 4.0) ** 2 / 4.0, color=PALETTE["black"], lw=1.2,
                label="Vs = (Vl/4)^2 / 4: band 2 flips")
        ax.axvline(25.0, color=PALETTE["black"], ls=":", lw=0.8, label="Lohse's scan, Vl = 25 Er,l")
        if lattice is not None:
            ax.plot(lattice[1], lattice[0], marker="*", ms=9, color=PALETTE["yellow"], mec=PALETTE["black"], ls="none", label="this lattice")
        ax.set_xlim(edges(vl)[0], edges(vl)[-1])
        ax.set_ylim(edges(vs)[0], edges(vs)[-1])
        ax.set_title(f"band {int(band)}")
        ax.set_xlabel("Vl (Er,l)")
    axes[0].set_ylabel("Vs (Er,s)")
    axes[0].legend(loc="upper left", fontsize=6, framealpha=0.9)
    fig.colorbar(image, ax=axes[-1], label="Chern number", ticks=[-2, -1, 0, 1, 2])
    return fig
