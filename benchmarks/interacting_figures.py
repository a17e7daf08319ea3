"""Figures of docs/theory.md for interacting pumps (issue 13, items 1, 2, 4, 5), measured on the current code.

Run on demand: ``python benchmarks/interacting_figures.py [coulomb_dot fractional hubbard disorder]`` (a few
minutes on 2 cores); writes
``docs/images/interacting_{hubbard,fractional,coulomb_dot,disorder}.png`` and prints the numbers shown.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from atompump.report.figures import PALETTE  # noqa: E402
from atompump.theory.interacting.coulomb_dot import (  # noqa: E402
    charge_per_cycle,
    turnstile_closed_form,
    turnstile_segments,
)
from atompump.theory.interacting.disorder_scan import disorder_scan  # noqa: E402
from atompump.theory.interacting.fractional import (  # noqa: E402
    HofstadterBosons,
    SuperlatticeBosons,
    fractional_pump,
    hofstadter_chern,
)
from atompump.theory.interacting.hubbard import OffsetRiceMele, breakdown_scan  # noqa: E402
from atompump.theory.interacting.manybody import lowest_states  # noqa: E402
from atompump.theory.rice_mele import RiceMeleParams  # noqa: E402

OUT = REPO / "docs" / "images"
MODEL = RiceMeleParams(J=1.0, dJ=0.5, Delta=1.0)


def save(fig: Figure, name: str) -> None:
    FigureCanvasAgg(fig)
    fig.savefig(OUT / name, dpi=130, metadata={"Software": None})
    print(f"wrote docs/images/{name}")


def hubbard() -> None:
    us = np.arange(0.0, 6.01, 0.25)
    fig = Figure(figsize=(7.5, 3.0), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for n_cells, colour in ((3, PALETTE["blue"]), (4, PALETTE["vermillion"])):
        grid = us if n_cells == 3 else us[::2]
        rows = breakdown_scan(MODEL, grid, n_cells=n_cells, n_theta=4, n_phi=12, resta=False)
        ax1.plot(grid, [r["chern_number"] for r in rows], "o-", color=colour, ms=3,
                 label=f"charge, {2 * n_cells} sites")
        ax1.plot(grid, [r["min_gap"] for r in rows], "s--", color=colour, ms=3, mfc="none",
                 label=f"min gap, {2 * n_cells} sites")
        print(n_cells, [(r["U"], r["chern_number"], round(r["min_gap"], 4)) for r in rows])
    ax1.set(xlabel="U / J", ylabel="charge per cycle; min gap / J")
    ax1.set_title("Hubbard-Thouless pump (dJ = 0.5, Delta = 1)", fontsize=8)
    ax1.legend(frameon=False, fontsize=7)
    loop = OffsetRiceMele(J=1.0, dJ=0.5, Delta=1.0, Delta0=1.5)
    wide = np.arange(0.0, 8.01, 0.25)
    rows = breakdown_scan(loop, wide, n_cells=3, n_theta=4, n_phi=12, resta=False)
    print("offset", [(r["U"], r["chern_number"], round(r["min_gap"], 4)) for r in rows])
    ax2.plot(wide, [r["chern_number"] for r in rows], "o-", color=PALETTE["green"], ms=3, label="pumped charge")
    ax2.plot(wide, [r["min_gap"] for r in rows], "s--", color=PALETTE["green"], ms=3, mfc="none", label="min gap")
    ax2.axhline(2, color=PALETTE["black"], lw=0.8, ls=":", label="loop around (0, 0), U = 0")
    ax2.set(xlabel="U / J")
    ax2.set_title("interaction-induced pump: Delta0 = 1.5, 6 sites", fontsize=8)
    ax2.legend(frameon=False, fontsize=7, loc="center right")
    save(fig, "interacting_hubbard.png")


def fractional() -> None:
    fig = Figure(figsize=(7.5, 3.0), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    chain = SuperlatticeBosons(n_sites=12, n_particles=2, alpha=1 / 3, V=3.0, V1=8.0, interaction_range=3)
    phis = np.linspace(0, 2 * np.pi, 49)
    levels = np.array([lowest_states(chain.hamiltonian(0.0, p), 4, dense_below=1000)[0] for p in phis])
    for k in range(5):
        ax1.plot(phis / (2 * np.pi), levels[:, k] - levels[:, 0], color=PALETTE["blue"] if k < 2 else PALETTE["black"],
                 lw=1.2 if k < 2 else 0.8)
    result = fractional_pump(n_sites=12, n_particles=2, V=3.0, V1=8.0, n_theta=4, n_phi=12)
    s = result.summary()
    print("fractional", s)
    ax1.set(xlabel="pump phase phi / 2 pi", ylabel="E_n - E_0 (J)", ylim=(-0.05, 2.5))
    ax1.set_title(f"12 sites, 2 bosons: pair C = {s['total_chern_number']:+d}, "
                  f"{s['charge_per_state']:+.1f} per state, back after {s['return_cycles']} cycles", fontsize=8)
    bosons = HofstadterBosons(Lx=4, Ly=4, p=1, q=4, n_particles=2)
    thetas = np.linspace(0, 2 * np.pi, 33)
    levels = np.array([lowest_states(bosons.hamiltonian(t, 0.0), 4, dense_below=1000)[0] for t in thetas])
    for k in range(5):
        ax2.plot(thetas / (2 * np.pi), levels[:, k] - levels[:, 0], color=PALETTE["vermillion"] if k < 2
                 else PALETTE["black"], lw=1.2 if k < 2 else 0.8)
    r = hofstadter_chern(bosons, m=2, n_theta=5)
    print("hofstadter bosons", r.chern_number, r.min_gap, r.max_splitting)
    ax2.set(xlabel="twist theta_x / 2 pi", ylabel="E_n - E_0 (J)", ylim=(-0.05, 1.5))
    ax2.set_title(f"HH bosons 4x4, flux 1/4, nu = 1/2: pair C = {r.chern_number:+d}", fontsize=8)
    save(fig, "interacting_fractional.png")


def coulomb_dot() -> None:
    fig = Figure(figsize=(7.5, 3.0), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    freqs = np.logspace(-3, 1, 40)
    for kT, colour in ((0.1, PALETTE["blue"]), (1.0, PALETTE["green"]), (2.5, PALETTE["vermillion"])):
        q = [charge_per_cycle(turnstile_segments(frequency=f), kT=kT) for f in freqs]
        closed = [turnstile_closed_form(frequency=f, kT=kT) for f in freqs]
        ax1.semilogx(freqs, q, "o", color=colour, ms=3, label=f"master equation, kT = {kT}")
        ax1.semilogx(freqs, closed, "-", color=colour, lw=0.8)
    ax1.set(xlabel="drive frequency f / Gamma", ylabel="electrons per cycle")
    ax1.set_title("spinless turnstile, eps = -+5 (lines: closed form)", fontsize=8)
    ax1.legend(frameon=False, fontsize=7)
    charging = np.linspace(0, 14, 57)
    for kT, colour in ((0.1, PALETTE["blue"]), (1.0, PALETTE["green"])):
        q = [charge_per_cycle(turnstile_segments(frequency=0.01), U=u, kT=kT, spinful=True) for u in charging]
        ax2.plot(charging, q, "-", color=colour, label=f"kT = {kT}")
    ax2.axvline(5.0, color=PALETTE["black"], lw=0.8, ls=":", label="U = |eps_load|")
    ax2.set(xlabel="charging energy U", ylabel="electrons per cycle")
    ax2.set_title("spin-degenerate level, f = 0.01 Gamma", fontsize=8)
    ax2.legend(frameon=False, fontsize=7)
    save(fig, "interacting_coulomb_dot.png")


def disorder() -> None:
    widths = [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0]
    scan = disorder_scan(MODEL, widths, sizes=(4, 8, 16), n_samples=12, seed=3, n_theta=6, n_phi=24)
    fig = Figure(figsize=(7.5, 3.0), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    colours = (PALETTE["blue"], PALETTE["green"], PALETTE["vermillion"])
    for (n, rows), colour in zip(scan["per_size"].items(), colours):
        print("disorder", n, rows)
        ax1.plot(widths, rows["mean_charge"], "o-", color=colour, ms=3, label=f"{n} cells")
        ax2.semilogy(widths, rows["typical_gap"], "s-", color=colour, ms=3, label=f"{n} cells")
    ax1.set(xlabel="disorder width W / J", ylabel="pumped charge per cycle (mean of 12)",
            title="free fermions, seed 3")
    ax1.legend(frameon=False, fontsize=7)
    ax2.set(xlabel="disorder width W / J", ylabel="typical min gap exp<ln gap> / J", title="gap over (theta, phi)")
    ax2.legend(frameon=False, fontsize=7)
    save(fig, "interacting_disorder.png")


if __name__ == "__main__":
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        chosen = sys.argv[1:] or ["coulomb_dot", "fractional", "hubbard", "disorder"]  # or name some
        for name in chosen:
            globals()[name]()
