"""Run planning: how many shots and cycles for an error X on the displacement per cycle nu.

The fit's error on ``nu`` follows from the per-shot scatter ``s`` (um) of the centres about the pump line and the
lever arm of the design (weighted least squares with equal per-shot errors; Bevington & Robinson, Data Reduction
and Error Analysis, ch. 6). With ``R`` repeats of a design over the cycles ``c`` and directions ``d``, ``dl`` the
long-lattice constant:

``plain`` (fit.model linear: x = x0 + d nu dl c, one offset)
    ``var(nu) = s^2 / (dl^2 R S_uu)``, ``S_uu = sum over one repeat of (u - mean u)^2``, ``u = d c``.
``references`` (differential_reference: each pumped shot minus its interleaved constant-phi reference)
    ``var(nu) = s_p^2 / (dl^2 R sum_pairs c^2)``; pairs are the pumped shots after c > 0 cycles, one reference each;
    ``s_p`` is the scatter of a difference, ``sqrt(2) s`` for independent shots (less when a drift common to the
    pair cancels: a pilot run with references measures it).
``directions`` (differential_direction: x(+) - x(-) after the same cycles, both directions)
    ``var(nu) = s_p^2 / (4 dl^2 R sum_c c^2)``, one pair per cycle value and repeat.

The error falls as ``1/sqrt(R)``: the repeats needed for a target ``X`` are ``ceil(var_1 / X^2)`` (``var_1``: one
repeat), and the shots to take are those divided by the fraction of shots that pass the quality cuts. Longer pumps
(larger cycles) need fewer shots as long as the per-shot scatter does not grow with the cycle (non-adiabatic
losses, the cloud spreading or leaving the frame): a pilot run over the planned cycles measures that.

The per-shot scatter comes from a pilot run (:func:`pilot_scatter`: the RMS residual of the linear fit of its used
pumped shots, the fraction used, the measured scatter of the differences) or, without one, from the simulator's
description of the experiment (:func:`simulated_scatter`: the Cramér–Rao bound of the cloud's centre in the image
the simulator's camera would take, combined with the shot-to-shot position jitter).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DESIGNS", "Scatter", "add_plan_parser", "centre_crb_um", "design_error", "format_plan", "pilot_scatter",
           "plan_runs", "simulated_scatter"]

DESIGNS = ("plain", "references", "directions")
_ANALYSIS = {"plain": "linear", "references": "differential_reference", "directions": "differential_direction"}


@dataclass(frozen=True)
class Scatter:
    """What the plan needs to know about the shots.

    Attributes
    ----------
    per_shot_um : float
        RMS scatter of one shot's centre about the pump line, um.
    reference_pair_um, direction_pair_um : float or None
        Measured RMS scatter of a pumped-minus-reference and of an x(+) - x(-) difference, um (None: not measured,
        ``sqrt(2) per_shot_um`` is used).
    used_fraction : float
        Fraction of the shots that pass the quality cuts.
    source : str
        Where the numbers come from (for the table).
    dof : dict[str, int]
        Degrees of freedom of each measured scatter (``per_shot``, ``reference_pair``, ``direction_pair``); a
        scatter from ``k`` degrees of freedom is uncertain by ``1/sqrt(2k)`` relative. Empty: exact (simulator).
    """

    per_shot_um: float
    reference_pair_um: float | None = None
    direction_pair_um: float | None = None
    used_fraction: float = 1.0
    source: str = ""
    dof: dict | None = None

    def pair_um(self, design: str) -> float:
        measured = {"references": self.reference_pair_um, "directions": self.direction_pair_um}.get(design)
        return float(measured) if measured is not None else math.sqrt(2.0) * self.per_shot_um

    def relative_uncertainty(self, design: str) -> float:
        """Relative uncertainty of the scatter ``design`` uses (and so of its planned error): ``1/sqrt(2 dof)``."""
        measured = {"references": (self.reference_pair_um, "reference_pair"),
                    "directions": (self.direction_pair_um, "direction_pair")}.get(design)
        key = measured[1] if measured is not None and measured[0] is not None else "per_shot"
        dof = (self.dof or {}).get(key)
        return 1.0 / math.sqrt(2.0 * dof) if dof else 0.0


def design_error(design: str, *, scatter: Scatter, cycles: Sequence[float], directions: Sequence[int],
                 dl_um: float, repeats: int = 1) -> float:
    """Expected error of nu (units of dl) of ``design`` with ``repeats`` repeats (all shots used); see the module
    docstring. ``inf`` when the design has no lever arm (e.g. every cycle 0, or ``directions`` without both signs).
    """
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; choose one of {list(DESIGNS)}")
    cycles = np.asarray(cycles, float)
    if design == "plain":
        u = np.concatenate([d * cycles for d in directions])
        lever = float(np.sum((u - u.mean()) ** 2))
        variance = scatter.per_shot_um**2 / lever if lever > 0 else math.inf
    elif design == "references":
        lever = len(directions) * float(np.sum(cycles[cycles > 0] ** 2))
        variance = scatter.pair_um(design) ** 2 / lever if lever > 0 else math.inf
    else:
        both = 1 in directions and -1 in directions
        lever = 4.0 * float(np.sum(cycles**2)) if both else 0.0
        variance = scatter.pair_um(design) ** 2 / lever if lever > 0 else math.inf
    return math.sqrt(variance / repeats) / dl_um


def _shots_per_repeat(design: str, cycles: Sequence[float], directions: Sequence[int]) -> int:
    from atompump.simulate.design import shot_count

    directions = (1, -1) if design == "directions" else tuple(directions)
    return shot_count(cycles=cycles, directions=directions, repeats=1, references=design == "references")


def plan_runs(*, target_nu_err: float, scatter: Scatter, cycle_sets: Sequence[Sequence[float]],
              directions: Sequence[int], dl_um: float, designs: Sequence[str] = DESIGNS) -> list[dict]:
    """Repeats and shots for an error ``target_nu_err`` on nu, per design and set of cycles.

    Returns
    -------
    list of dict
        One row per (design, cycles) with ``design``, ``analysis`` (the fit.model that gives it), ``cycles``,
        ``directions``, ``repeats`` (of used shots needed), ``repeats_to_take`` (divided by the used fraction),
        ``shots_per_repeat``, ``shots`` (to take), ``nu_err`` (expected with ``repeats`` repeats of used shots),
        ``nu_err_one_repeat``, ``nu_err_relative_uncertainty`` (that of the pilot's scatter, 0 without a pilot:
        with a pilot of few shots, plan for a smaller target); a design that cannot measure nu with these cycles/directions has ``repeats`` None and
        a ``note``.
    """
    if not target_nu_err > 0:
        raise ValueError(f"the target error on nu must be positive, got {target_nu_err}")
    if not scatter.per_shot_um > 0 or not 0 < scatter.used_fraction <= 1:
        raise ValueError(f"the per-shot scatter must be positive and the used fraction in (0, 1], got {scatter}")
    rows = []
    for design in designs:
        for cycles in cycle_sets:
            cycles = [float(c) for c in cycles]
            dirs = [1, -1] if design == "directions" else [int(d) for d in directions]
            one = design_error(design, scatter=scatter, cycles=cycles, directions=dirs, dl_um=dl_um)
            row = {"design": design, "analysis": _ANALYSIS[design], "cycles": cycles, "directions": dirs,
                   "shots_per_repeat": _shots_per_repeat(design, cycles, dirs), "nu_err_one_repeat": one,
                   "nu_err_relative_uncertainty": scatter.relative_uncertainty(design)}
            if not math.isfinite(one):
                rows.append({**row, "repeats": None, "repeats_to_take": None, "shots": None, "nu_err": None,
                             "note": "no lever arm: needs shots after a non-zero number of cycles"
                                     + (" in both directions" if design != "references" else "")})
                continue
            repeats = max(math.ceil((one / target_nu_err) ** 2 * (1 - 1e-12)), 1)
            take = math.ceil(repeats / scatter.used_fraction * (1 - 1e-12))
            rows.append({**row, "repeats": repeats, "repeats_to_take": take, "shots": take * row["shots_per_repeat"],
                         "nu_err": one / math.sqrt(repeats), "note": ""})
    return rows


# --- the per-shot scatter --------------------------------------------------------------------------------------------

def _rms(residuals: np.ndarray, n_params: int) -> float:
    return float(np.sqrt(np.sum(np.asarray(residuals) ** 2) / max(residuals.size - n_params, 1)))


def pilot_scatter(com, *, dl_um: float, source: str = "pilot run") -> Scatter:
    """The scatter of a pilot run's ``com.nc`` (a Dataset): the RMS residual of the linear fit of its used pumped
    shots, and of the differential analyses when the run has reference shots or both directions; the fraction of its
    shots that passed the cuts. Nothing about its nu is returned (a blinded pilot stays blind).

    Raises
    ------
    ValueError
        Fewer than 3 used pumped shots after different ``direction * cycle``.
    """
    from atompump.fit import fit_differential, fit_model
    from atompump.fit.analyses import direction_differences, model_problem, reference_differences
    from atompump.stages.fit import pump_data

    data = pump_data(com)
    problem = model_problem(data, "linear")
    if problem:
        raise ValueError(f"the pilot run cannot give a per-shot scatter: {problem}")
    linear = fit_model(data, "linear", dl_um=dl_um)
    pairs, dof = {}, {"per_shot": linear.n_points - 2}
    for name, pairing in (("reference", reference_differences), ("direction", direction_differences)):
        try:
            diff = fit_differential(*pairing(data), dl_um=dl_um, name=name)
        except ValueError:
            pairs[name] = None
        else:
            pairs[name] = _rms(diff.residuals_um, 1) if diff.n_points >= 3 else None
            if pairs[name] is not None:
                dof[f"{name}_pair"] = diff.n_points - 1
    used = com.used.values.astype(bool)
    return Scatter(per_shot_um=_rms(linear.residuals_um, 2), reference_pair_um=pairs["reference"],
                   direction_pair_um=pairs["direction"], used_fraction=float(used.mean()),
                   source=f"{source}: {int(used.sum())} of {used.size} shots used, {linear.n_points} pumped",
                   dof=dof)


def centre_crb_um(params) -> float:
    """Cramér–Rao bound (um) of a cloud's centre along the pump axis in one image of the simulator's camera.

    ``params`` is a :class:`~atompump.simulate.run.SimulationParams`. The cloud: a Gaussian of ``cloud.sigma_um``
    blurred by the point-spread function (approximated by its best Gaussian, :func:`gaussian_psf_sigma`) and
    averaged over the true pixels, centred on the frame, ``cloud.atom_number`` atoms; the probe flat at its peak
    counts; the optical density ``alpha ln(P/A) + (P - A)/I_sat`` of the atoms frame ``A`` and probe frame ``P``,
    each with count variance ``F2 gain I + read_noise^2 + 1/12``
    (:func:`~atompump.simulate.imaging.camera_counts`), the dark frame's read noise subtracted from both. Nuisance
    parameters: the transverse centre, the atom number and both widths. Probe fringes, the envelope and
    atom-number jitter are left out: it is a bound.
    """
    from atompump.com.bounds import cramer_rao_bound, numerical_jacobian
    from atompump.simulate.imaging import gaussian_column_density, transmitted_intensity

    pix = params.true_pixel_um
    blur = params.optics.psf.sigma_um  # 0 for 'none'
    camera, absorption = params.camera, params.absorption
    ny, nx = camera.image_shape
    shape = (ny, nx) if params.pump_axis == "x" else (nx, ny)  # pump axis along columns

    def od(p):
        x, y, n, sx, sy = p
        return absorption.cross_section_um2 * gaussian_column_density(shape, atom_number=n, centre_um=(x, y),
                                                                      sigma_um=(sx, sy), pixel_size_um=pix)

    sigma = [math.hypot(s, blur) for s in params.cloud.sigma_um]
    p0 = np.array([0.5 * (shape[1] - 1) * pix, 0.5 * (shape[0] - 1) * pix, params.cloud.atom_number, *sigma])
    probe = np.full(shape, params.probe.peak_counts, dtype=float)
    atoms = transmitted_intensity(probe, od(p0), alpha=absorption.alpha, isat_counts=absorption.isat_counts)
    inv_isat = 0.0 if absorption.isat_counts is None else 1.0 / absorption.isat_counts
    d_atoms = -(absorption.alpha / np.maximum(atoms, 1e-9) + inv_isat)
    d_probe = absorption.alpha / probe + inv_isat
    read = camera.read_noise_counts**2 + 1.0 / 12.0
    gain = camera.excess_noise_factor * camera.gain
    variance = (d_atoms**2 * (gain * atoms + read) + d_probe**2 * (gain * probe + read)
                + (d_atoms + d_probe) ** 2 * read)
    return cramer_rao_bound(numerical_jacobian(od, p0, relative_step=1e-4), variance, index=0)


def simulated_scatter(params) -> Scatter:
    """Per-shot scatter without a pilot run: ``hypot(centre_crb_um(params), cloud.position_jitter_um)``."""
    crb = centre_crb_um(params)
    jitter = params.cloud.position_jitter_um
    return Scatter(per_shot_um=math.hypot(crb, jitter), used_fraction=1.0,
                   source=f"simulator and Cramer-Rao bound: bound {crb:.4g} um per shot, position jitter "
                          f"{jitter:.4g} um (config simulation.*)")


# --- command line ----------------------------------------------------------------------------------------------------

def format_plan(result: dict) -> str:
    """The plan as a table."""
    s = result["scatter"]
    lines = [f"target error on nu: {result['target_nu_err']:g} (dl = {result['dl_um']:.4g} um)",
             f"per-shot scatter: {s['per_shot_um']:.4g} um ({s['source']}); used fraction {s['used_fraction']:.3g}"]
    for key, label in (("reference_pair_um", "pumped - reference"), ("direction_pair_um", "x(+) - x(-)")):
        if s.get(key) is not None:
            lines.append(f"measured scatter of a {label} difference: {s[key]:.4g} um")
    header = (f"{'design':<11} {'analysis (fit.model)':<23} {'cycles':<24} {'repeats':>7} {'shots':>6} {'nu_err':>8}"
              f" {'+-':>5}")
    lines += ["", header, "-" * len(header)]
    for row in result["plan"]:
        cycles = ",".join(f"{c:g}" for c in row["cycles"])
        if row["repeats"] is None:
            lines.append(f"{row['design']:<11} {row['analysis']:<23} {cycles:<24} {'-':>7} {'-':>6} {'-':>8}  "
                         f"{row['note']}")
        else:
            lines.append(f"{row['design']:<11} {row['analysis']:<23} {cycles:<24} {row['repeats_to_take']:>7} "
                         f"{row['shots']:>6} {row['nu_err']:>8.4g} {100 * row['nu_err_relative_uncertainty']:>4.0f}%")
    lines += ["", "repeats: of the whole design (every cycle, direction and reference once), including the shots "
                  "expected to fail the cuts; shots = repeats x shots per repeat; nu_err: expected error with them; +-: its uncertainty from the pilot's "
                  "measured scatter (plan for a smaller target when it is large)."]
    return "\n".join(lines)


def add_plan_parser(sub, *, config_loader) -> None:
    """``atompump plan``: the sub-command (``config_loader(paths)`` reads and validates config files)."""
    plan = sub.add_parser("plan", help="shots and cycles for a target error on nu, per measurement design")
    plan.add_argument("--target", type=float, required=True, metavar="NU_ERR",
                      help="the error on nu you want (units of dl)")
    plan.add_argument("--pilot", metavar="PATH",
                      help="a pilot run: its results folder or its com.nc (the per-shot scatter is measured there)")
    plan.add_argument("--config", action="append", default=[], metavar="YAML",
                      help="config file(s): without --pilot the simulator's camera and cloud (simulation.*, "
                           "imaging.*); the lattice's dl either way")
    plan.add_argument("--cycles", type=float, nargs="+",
                      help="the cycles of one repeat (default: the pilot's, else simulation.cycles)")
    plan.add_argument("--max-cycles", type=int, nargs="+", metavar="N",
                      help="compare designs over cycles 0, 1, ..., N for each N (instead of --cycles)")
    plan.add_argument("--directions", type=int, nargs="+", choices=(1, -1),
                      help="pump directions (default: the pilot's, else simulation.directions)")
    plan.add_argument("--design", choices=DESIGNS, action="append", help="only these designs (default: all)")
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(handler=lambda args: _plan(args, config_loader), formatter=format_plan)


def _plan(args, config_loader) -> dict:
    from atompump.stages.plan import plan_stage

    config = config_loader(args.config)
    cycle_sets = ([list(range(n + 1)) for n in args.max_cycles] if args.max_cycles
                  else [args.cycles] if args.cycles else None)
    return plan_stage(target_nu_err=args.target, config=config, pilot=args.pilot, cycle_sets=cycle_sets,
                      directions=args.directions, designs=tuple(args.design or DESIGNS))
