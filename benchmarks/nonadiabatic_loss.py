"""Benchmark: the band-averaged non-adiabatic loss model against the exact k-resolved dynamics, T = 50 ms to 1 s.

The Lohse lattice (Vs = 10 Er,s, Vl = 20 Er,l, lambda_l = 1534 nm, Rb-87) as its Rice–Mele chain
(:func:`atompump.theory.rice_mele.rice_mele_from_superlattice`); three ways of starting the phi ramp: sudden at
phi = 0 (the symmetric double well, the simulator's default), sudden at phi = pi/2 and a 5 ms sin^2 ramp-on at
phi = 0. For each, the loss of the first cycle (band-2 population averaged over the filled band at the first gap
maximum after phi_s + 2 pi) from :func:`atompump.theory.nonadiabatic.nonadiabatic_loss` and from
:func:`atompump.theory.nonadiabatic.exact_band_loss` (the exact two-level evolution at every k, the reference).
Also shown: the first-order sudden-start estimate and the incoherent combination, the approximations the model
improves on. Prints every point, the worst relative error ("ok" only when <= 10 %) and the time of the model
against the time of the exact evolution in the same run.

    python benchmarks/nonadiabatic_loss.py [--n-k 32] [--points 10] [--figure docs/images/nonadiabatic_loss.png]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from atompump.report.figures import PALETTE, _figure, save_figure
from atompump.theory.nonadiabatic import (
    NonAdiabaticWarning,
    exact_band_loss,
    nonadiabatic_loss,
    period_in_hbar_units,
)
from atompump.theory.rice_mele import rice_mele_from_superlattice
from atompump.theory.superlattice import SuperlatticeParams

STARTS = (("sudden at phi = 0", 0.0, 0.0, PALETTE["blue"]),
          ("sudden at phi = pi/2", np.pi / 2, 0.0, PALETTE["vermillion"]),
          ("5 ms sin^2 ramp-on at phi = 0", 0.0, 5.0, PALETTE["green"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-k", type=int, default=32, help="k points of the filled band")
    parser.add_argument("--points", type=int, default=12, help="periods of the exact evolution, 50 ms to 1 s")
    parser.add_argument("--curve", type=int, default=150, help="periods of the model curve")
    parser.add_argument("--dt", type=float, default=1.0, help="time step of the exact evolution, hbar/Er,s")
    parser.add_argument("--figure", default="docs/images/nonadiabatic_loss.png")
    args = parser.parse_args()
    lattice = SuperlatticeParams(Vs_Er=10.0, Vl_Er=20.0, lambda_l_nm=1534.0)
    chain = rice_mele_from_superlattice(lattice)
    unit = lattice.recoil_s_hz
    periods_ms = np.geomspace(50.0, 1000.0, args.points)
    fig = _figure(6.0, 5.2)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
    worst, t_model, t_exact = 0.0, 0.0, 0.0
    print(f"{'start':32s} {'T/ms':>7s} {'exact':>10s} {'model':>10s} {'rel.err':>8s} {'1st order':>10s} "
          f"{'incoherent':>10s}")
    for label, start, ramp_ms, colour in STARTS:
        exact, model, first, incoherent = [], [], [], []
        for t_ms in periods_ms:
            kwargs = {"period": period_in_hbar_units(t_ms * 1e-3, energy_unit_hz=unit), "start_phase": start,
                      "ramp_time": period_in_hbar_units(ramp_ms * 1e-3, energy_unit_hz=unit) if ramp_ms else 0.0,
                      "n_k": args.n_k}
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", NonAdiabaticWarning)
                est = nonadiabatic_loss(chain, **kwargs)
            t1 = time.perf_counter()
            _, loss_k = exact_band_loss(chain, **kwargs, dt=args.dt)
            t_model += t1 - t0
            t_exact += time.perf_counter() - t1
            exact.append(loss_k.mean())
            model.append(est.loss)
            first.append(est.start_first_order + est.cycle_loss)
            incoherent.append(est.incoherent)
            rel = est.loss / exact[-1] - 1
            worst = max(worst, abs(rel))
            flag = "  (outside validity: " + "; ".join(str(w.message) for w in caught) + ")" if caught else ""
            print(f"{label:32s} {t_ms:7.1f} {exact[-1]:10.4g} {est.loss:10.4g} {rel:+8.3f} {first[-1]:10.4g} "
                  f"{incoherent[-1]:10.4g}{flag}")
        curve_ms = np.geomspace(50.0, 1000.0, args.curve)
        curve, curve_incoherent = [], []
        for t_ms in curve_ms:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NonAdiabaticWarning)
                est = nonadiabatic_loss(chain, period=period_in_hbar_units(t_ms * 1e-3, energy_unit_hz=unit),
                                        start_phase=start, n_k=args.n_k,
                                        ramp_time=period_in_hbar_units(ramp_ms * 1e-3, energy_unit_hz=unit)
                                        if ramp_ms else 0.0)
            curve.append(est.loss)
            curve_incoherent.append(est.incoherent)
        top.loglog(curve_ms, curve, "-", color=colour, lw=0.8, label=f"{label}: model")
        top.loglog(periods_ms, exact, "o", color=colour, mfc="none", ms=5, mew=1.2, label="exact")
        top.loglog(curve_ms, curve_incoherent, ":", color=colour, lw=1.2)
        if ramp_ms == 0 and start == 0.0:
            top.loglog(periods_ms, first, "x", color=colour, ms=4, label="first-order start + crossings")
        bottom.semilogx(periods_ms, 100 * (np.array(model) / np.array(exact) - 1), "o-", color=colour, ms=3, lw=1)
    top.plot([], [], ":", color=PALETTE["black"], lw=1.2, label="incoherent (averaged over T)")
    top.set_ylabel("loss of the first cycle")
    top.legend(fontsize=6.5, ncol=2, loc="lower left")
    top.set_title(f"Lohse lattice, Rice-Mele chain, {args.n_k} k points")
    bottom.axhspan(-10, 10, color=PALETTE["yellow"], alpha=0.3, lw=0)
    bottom.axhline(0, color=PALETTE["black"], lw=0.6)
    bottom.set_ylim(-12, 12)
    bottom.set_xlabel("cycle period T (ms)")
    bottom.set_ylabel("model / exact - 1 (%)")
    save_figure(fig, args.figure)
    print(f"figure: {args.figure}")
    print(f"time: model {t_model:.1f} s, exact {t_exact:.1f} s (model / exact = {t_model / t_exact:.2f})")
    print(f"worst relative error {100 * worst:.1f} % (target 10 %): {'ok' if worst <= 0.10 else 'NOT MET'}")


if __name__ == "__main__":
    main()
