"""The ``atompump theory MODEL`` sub-commands: argument parsers, computations and readable tables.

Each model's handler returns a JSON-ready dict with at least ``model``, ``parameters``, ``chern_numbers``
(integers, lowest band first, physics.md sign), ``min_gaps`` (minimum gap above each band or band group, lowest
first, in ``energy_unit``) and ``energy_unit``; :func:`format_table` renders it for people. Printing is left to
:mod:`atompump.cli`. ``superlattice-scan`` returns the same keys over a grid: ``chern_numbers[i][j]`` and
``min_gaps[i][j]`` (per band, None where undefined) at ``Vs_Er[i]``, ``Vl_Er[j]``, and ``transition_Vs_Er``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["add_theory_parser", "format_table"]


def _superlattice(args: argparse.Namespace) -> dict:
    from atompump.constants import SPECIES
    from atompump.theory.prediction import superlattice_prediction
    from atompump.theory.superlattice import SuperlatticeParams

    if args.atom not in SPECIES:
        raise ValueError(f"unknown atom {args.atom!r}; choose one of {sorted(SPECIES)}")
    params = SuperlatticeParams(Vs_Er=args.Vs, Vl_Er=args.Vl, lambda_l_nm=args.lambda_l_nm,
                                mass_amu=SPECIES[args.atom].mass_amu)
    summary = superlattice_prediction(params, n_bands=args.n_bands, populations=args.populations,
                                      temperature_nK=args.temperature_nK, statistics=args.statistics,
                                      filling=args.filling, loading=args.loading, phi0=args.phi0,
                                      ramp_ms=args.ramp_on_ms,
                                      cycle_period_ms=args.cycle_period_ms).summary
    summary["parameters"] = {"Vs_Er": args.Vs, "Vl_Er": args.Vl, "lambda_l_nm": args.lambda_l_nm, "atom": args.atom}
    return summary


def _superlattice_scan(args: argparse.Namespace) -> dict:
    """``theory superlattice-scan``: band Chern numbers over a (Vs, Vl) grid (:mod:`atompump.theory.scan`)."""
    import numpy as np

    from atompump.constants import SPECIES
    from atompump.theory.scan import superlattice_chern_scan

    if args.atom not in SPECIES:
        raise ValueError(f"unknown atom {args.atom!r}; choose one of {sorted(SPECIES)}")
    grids = {}
    for name, (start, stop, num) in (("Vs", args.Vs), ("Vl", args.Vl)):
        if num < 1 or num != int(num) or start < 0 or stop < start:
            raise ValueError(f"--{name} takes START STOP N with 0 <= START <= STOP and N >= 1, got {start} {stop} {num}")
        grids[name] = np.linspace(start, stop, int(num))
    scan = superlattice_chern_scan(grids["Vs"], grids["Vl"], n_bands=args.n_bands, lambda_l_nm=args.lambda_l_nm,
                                   mass_amu=SPECIES[args.atom].mass_amu)
    if args.figure:
        from atompump.report.figures import save_figure
        from atompump.report.theory_figures import superlattice_scan_figure

        save_figure(superlattice_scan_figure(scan), args.figure)

    def nested(values):
        return [[[None if not np.isfinite(v) else (int(v) if float(v).is_integer() else float(v)) for v in cell]
                 for cell in row] for row in values]

    return {
        "model": "superlattice-scan",
        "parameters": {"Vs_Er": list(args.Vs), "Vl_Er": list(args.Vl), "lambda_l_nm": args.lambda_l_nm,
                       "atom": args.atom, "n_bands": args.n_bands},
        "Vs_Er": grids["Vs"].tolist(),
        "Vl_Er": grids["Vl"].tolist(),
        "chern_numbers": nested(scan.chern_number.values),
        "min_gaps": nested(scan.min_gap_above.values),
        "energy_unit": "Er,s",
        "transition_Vs_Er": scan.transition_Vs.values.tolist(),
        "convention": "chern_numbers[i][j] = Chern numbers (lowest band first) at Vs_Er[i], Vl_Er[j]; null: a gap "
                      "closes or the mesh could not resolve it; band 2 flips at Vs = (Vl/4)^2 / 4 (transition_Vs_Er)",
        "figure": args.figure,
    }


def _rice_mele(args: argparse.Namespace) -> dict:
    from atompump.theory.rice_mele import (
        RiceMeleParams,
        hybrid_wannier_centres,
        rice_mele_topology,
        winding_chern_number,
    )

    model = RiceMeleParams(J=args.J, dJ=args.dJ, Delta=args.Delta)
    topo = rice_mele_topology(model)
    chern = topo.band_chern_numbers()
    _, centres = hybrid_wannier_centres(model)
    result = {
        "model": "rice-mele",
        "parameters": {"J": args.J, "dJ": args.dJ, "Delta": args.Delta},
        "chern_numbers": [int(c) for c in chern],
        "min_gaps": [float(g) for g in topo.min_gaps],
        "energy_unit": "unit of --J/--dJ/--Delta",
        "winding_number": winding_chern_number(model),
        "displacement_per_cycle_dl": float(chern[0]),
        "wannier_centre_drift_d": [float(d) for d in centres[:, -1] - centres[:, 0]],
        "convention": "J1,2 = J +- dJ cos(phi) on A_j-B_j and B_j-A_j+1, on-site +-Delta sin(phi) on A/B",
    }
    if abs(args.dJ) <= abs(args.J):
        result["min_gap_closed_form"] = model.min_gap()
    return result


def _grouped(topo) -> dict:
    return {
        "chern_numbers": [int(c) for c in topo.chern_numbers],
        "band_groups": [[b + 1 for b in g] for g in topo.groups],
        "min_gaps": [float(g) for g in topo.min_gaps],
    }


def _aubry_andre(args: argparse.Namespace) -> dict:
    from atompump.theory.aubry_andre import AubryAndreParams, aubry_andre_topology, diophantine_t, pumped_charge_per_gap

    params = AubryAndreParams(J=args.J, V=args.V, p=args.p, q=args.q)
    topo = aubry_andre_topology(params)
    return {
        "model": "aubry-andre",
        "parameters": {"J": args.J, "V": args.V, "p": args.p, "q": args.q},
        **_grouped(topo),
        "energy_unit": "unit of --J/--V",
        "pumped_charge_per_gap": pumped_charge_per_gap(topo),
        "diophantine_t": diophantine_t(args.p, args.q),
        "convention": "V cos(2 pi p/q j + phi); pumped charge (gap r) = -t_r with r = q s_r + p t_r",
    }


def _hofstadter(args: argparse.Namespace) -> dict:
    from atompump.theory.hofstadter import (
        HofstadterParams,
        hall_conductance,
        hofstadter_topology,
        laughlin_flux_insertion,
        tknn_hall_conductance,
    )

    params = HofstadterParams(p=args.p, q=args.q)
    topo = hofstadter_topology(params)
    flow = {r.gap: r.to_right for r in laughlin_flux_insertion(params, topology=topo)}
    return {
        "model": "hofstadter",
        "parameters": {"p": args.p, "q": args.q},
        **_grouped(topo),
        "energy_unit": "J",
        "sigma_xy": hall_conductance(topo),
        "sigma_xy_unit": "e^2/h",
        "sigma_xy_diophantine": tknn_hall_conductance(args.p, args.q),
        "laughlin_spectral_flow": [flow.get(r) for r in range(1, args.q)],
        "convention": "Peierls phase exp(-i 2 pi p/q m) on +y hops; C > 0 when the hybrid Wannier centre moves "
                      "to +x as k_y increases; sigma_xy(r) = particles carried to +x per flux quantum",
    }


def _quantum_dot(args: argparse.Namespace) -> dict:
    from atompump.theory.dot_pump import DotLoop, dot_pump

    loop = DotLoop(eps0=args.eps0, eps1=args.eps1, gamma=args.gamma, asymmetry=args.asymmetry)
    result = dot_pump(loop)
    return {
        "model": "quantum-dot",
        "parameters": {"eps0": args.eps0, "eps1": args.eps1, "gamma": args.gamma, "asymmetry": args.asymmetry},
        "chern_numbers": [result.winding_number],
        "min_gaps": [result.min_distance],
        "energy_unit": "unit of --gamma",
        "winding_number": result.winding_number,
        "pumped_charge": result.pumped_charge,
        "displacement_per_cycle_dl": result.pumped_charge,
        "convention": "winding of (eps, Gamma_L - Gamma_R) around (0, 0), anticlockwise +; charge counted left to "
                      "right; min_gaps: closest approach of the loop to the degeneracy point",
    }


def _add(models, name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
    parser = models.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    parser.set_defaults(handler=handler)
    return parser


def add_theory_parser(sub) -> argparse.ArgumentParser:
    """Add ``theory MODEL`` with its five models and superlattice-scan to the sub-parsers ``sub`` of the main parser."""
    theory = sub.add_parser("theory", help="band topology of a pump model")
    models = theory.add_subparsers(dest="model", required=True, metavar="MODEL")
    sl = _add(models, "superlattice", _superlattice,
              "optical superlattice Vs cos^2(pi x/ds) + Vl sin^2(pi x/dl - phi/2)")
    sl.add_argument("--Vs", type=float, default=10.0, help="short-lattice depth in Er,s (default 10)")
    sl.add_argument("--Vl", type=float, default=20.0, help="long-lattice depth in Er,l (default 20)")
    sl.add_argument("--lambda-l-nm", type=float, default=1534.0, help="long-lattice wavelength in nm (default 1534)")
    sl.add_argument("--atom", default="Rb87", help="species (default Rb87)")
    sl.add_argument("--n-bands", type=int, default=3, help="bands to compute (default 3)")
    sl.add_argument("--populations", type=float, nargs="+", default=None, metavar="P",
                    help="band populations, lowest first (default: the lowest band only)")
    sl.add_argument("--temperature-nK", type=float, default=None, help="populations from this temperature instead")
    sl.add_argument("--statistics", choices=("boltzmann", "bose", "fermi"), default="boltzmann",
                    help="statistics for --temperature-nK (default boltzmann)")
    sl.add_argument("--filling", type=float, default=1.0, help="particles per long-lattice cell (default 1)")
    sl.add_argument("--loading", choices=("long_lattice", "pump_start"), default="long_lattice",
                    help="where --temperature-nK sets the populations: the long lattice alone, then carried "
                         "adiabatically to the pump (default, as Lohse et al.), or the pump lattice at --phi0")
    sl.add_argument("--phi0", type=float, default=0.0, help="phase where the pump's ramp starts, rad (default 0)")
    sl.add_argument("--ramp-on-ms", type=float, default=0.0,
                    help="smooth (sin^2) ramp-on of the phase velocity, ms (default 0: a sudden start)")
    sl.add_argument("--cycle-period-ms", type=float, default=None, help="cycle period for the Landau-Zener loss")
    scan = _add(models, "superlattice-scan", _superlattice_scan,
                "band Chern numbers of the superlattice over a grid of (Vs, Vl), with the exact transition of band 2")
    scan.add_argument("--Vs", type=float, nargs=3, default=[0.0, 16.0, 9], metavar=("START", "STOP", "N"),
                      help="short-lattice depths in Er,s: N values from START to STOP (default 0 16 9)")
    scan.add_argument("--Vl", type=float, nargs=3, default=[15.0, 35.0, 5], metavar=("START", "STOP", "N"),
                      help="long-lattice depths in Er,l: N values from START to STOP (default 15 35 5)")
    scan.add_argument("--lambda-l-nm", type=float, default=1534.0, help="long-lattice wavelength in nm (default 1534)")
    scan.add_argument("--atom", default="Rb87", help="species (default Rb87)")
    scan.add_argument("--n-bands", type=int, default=3, help="bands to compute (default 3)")
    scan.add_argument("--figure", metavar="PATH", help="also draw the scan with the transition line (PNG, PDF, SVG)")
    rm = _add(models, "rice-mele", _rice_mele, "Rice-Mele chain: J1,2 = J +- dJ cos phi, on-site +-Delta sin phi")
    rm.add_argument("--J", type=float, default=1.0, help="mean hopping (default 1)")
    rm.add_argument("--dJ", type=float, default=0.5, help="hopping modulation (default 0.5)")
    rm.add_argument("--Delta", type=float, default=1.0, help="on-site modulation (default 1)")
    aa = _add(models, "aubry-andre", _aubry_andre, "Aubry-Andre chain: -J hopping, V cos(2 pi p/q j + phi) on site")
    aa.add_argument("--J", type=float, default=1.0, help="hopping (default 1)")
    aa.add_argument("--V", type=float, default=1.0, help="on-site modulation (default 1)")
    aa.add_argument("--p", type=int, default=1, help="numerator of beta = p/q (default 1)")
    aa.add_argument("--q", type=int, default=3, help="denominator of beta = p/q (default 3)")
    hof = _add(models, "hofstadter", _hofstadter, "Harper-Hofstadter lattice at flux p/q per plaquette")
    hof.add_argument("--p", type=int, default=1, help="flux numerator (default 1)")
    hof.add_argument("--q", type=int, default=3, help="flux denominator (default 3)")
    dot = _add(models, "quantum-dot", _quantum_dot,
               "single-level dot pump: eps = eps0 + eps1 cos t, Gamma_L,R = gamma (1 +- asymmetry sin t) / 2")
    dot.add_argument("--eps0", type=float, default=0.0, help="level centre (default 0)")
    dot.add_argument("--eps1", type=float, default=20.0, help="level amplitude (default 20)")
    dot.add_argument("--gamma", type=float, default=1.0, help="total tunnelling width, the energy unit (default 1)")
    dot.add_argument("--asymmetry", type=float, default=0.98, help="coupling asymmetry s, |s| < 1 (default 0.98)")
    from atompump.theory.interacting.commands import add_interacting_models

    add_interacting_models(models, _add)  # issue 13: hubbard-pump, fractional-pump, hofstadter-bosons, ...
    return theory


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table_lines(rows) -> list[str]:
    """Scans (interacting models): one line per row, one column per key."""
    if not rows:
        return []
    keys = list(rows[0])
    width = [max(len(k), 10) for k in keys]
    return ["  ".join(f"{k:>{w}}" for k, w in zip(keys, width))] + [
        "  ".join(f"{_fmt(row[k]):>{w}}" for k, w in zip(keys, width)) for row in rows]


def format_table(result: dict) -> str:
    """A readable table of a theory result (bands or band groups, Chern numbers, gaps, model extras)."""
    if result["model"] == "superlattice-scan":
        return _scan_table(result)
    params = ", ".join(f"{k}={v}" for k, v in result["parameters"].items())
    lines = [f"model: {result['model']}  ({params})"]
    groups = result.get("band_groups") or [[n] for n in range(1, len(result["chern_numbers"]) + 1)]
    per_band = list(result["min_gaps"])
    gaps = [per_band[g[-1] - 1] if g[-1] - 1 < len(per_band) else None for g in groups]
    label = "loop" if result["model"] == "quantum-dot" else "band"
    lines.append(f"{label:>6}  {'Chern':>5}  {'min gap above (' + result['energy_unit'] + ')':>30}")
    for group, c, gap in zip(groups, result["chern_numbers"], gaps):
        name = "+".join(str(b) for b in group)
        lines.append(f"{name:>6}  {c:>+5d}  {_fmt(gap):>30}")
    extras = {
        "superlattice": ["displacement_per_cycle_dl", "dl_um", "band_populations", "position_spread_um"],
        "rice-mele": ["winding_number", "min_gap_closed_form", "displacement_per_cycle_dl"],
        "aubry-andre": ["pumped_charge_per_gap", "diophantine_t"],
        "hofstadter": ["sigma_xy", "sigma_xy_diophantine", "laughlin_spectral_flow"],
        "quantum-dot": ["winding_number", "pumped_charge"],
    }.get(result["model"], result.get("extras", []))
    for key in extras:
        if key in result:
            value = result[key]
            shown = "[" + ", ".join(_fmt(v) for v in value) + "]" if isinstance(value, list) else _fmt(value)
            lines.append(f"{key}: {shown}")
    geometry = result.get("quantum_geometry")
    if geometry:
        ratios = ", ".join("-" if r is None else f"{r:.3g}" for r in geometry["bound_ratio"])
        lines.append(f"quantum spread per particle Omega_I (phi = 0, populated bands): "
                     f"{geometry['omega_I_populated_um2']:.4g} um^2; <Omega_I> G_phiphi / (C^2 dl^2 / 4) per band: "
                     f"[{ratios}] (>= 1)")
    lines += _table_lines(result.get("table"))
    period = (result.get("non_adiabatic") or {}).get("period_for_1pct_loss_ms")
    if period is not None:
        lines.append(f"cycle period for a 1% Landau-Zener loss: {period:.3g} ms")
    return "\n".join(lines)


def _scan_table(result: dict) -> str:
    """Rows Vs, columns Vl: the band Chern numbers as e.g. ``+1-1+1`` (``?`` where undefined); ``|`` marks the
    exact transition of band 2 between two rows."""
    vs, vl, transition = result["Vs_Er"], result["Vl_Er"], result["transition_Vs_Er"]
    width = max(7, 3 * result["parameters"]["n_bands"] + 1)
    title = (f"model: superlattice-scan  (band Chern numbers, lowest first; lambda_l = "
             f"{result['parameters']['lambda_l_nm']:g} nm, {result['parameters']['atom']})")
    lines = [title, f"{'Vs (Er,s) / Vl (Er,l)':>20}" + "".join(f"{v:>{width}g}" for v in vl)]
    for i, a in enumerate(vs):
        cells = []
        for j in range(len(vl)):
            chern = result["chern_numbers"][i][j]
            text = "".join("?" if c is None else f"{c:+d}" for c in chern)
            below = i > 0 and vs[i - 1] < transition[j] <= a
            cells.append(f"{('|' if below else '') + text:>{width}}")
        lines.append(f"{a:>20g}" + "".join(cells))
    lines.append("transition of band 2, Vs = (Vl/4)^2/4 (Er,s): "
                 + ", ".join(f"{t:.4g} at Vl = {v:g}" for t, v in zip(transition, vl)))
    lines.append("| : the first Vs at or above the transition; ? : a gap closes or is not resolved there")
    if result.get("figure"):
        lines.append(f"figure: {result['figure']}")
    return "\n".join(lines)
