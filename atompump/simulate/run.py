"""Simulated runs in the lab's format: frames, a manifest, ``truth.json`` and the atoms' dynamics.

What a run is made of, in order:

1. The atoms (:mod:`atompump.simulate.dynamics`): the pump is simulated once per (cycle, direction) setting of the
   design -- ``dynamics='continuum'`` (superlattice + trap), ``'tight_binding'`` (Rice--Mele + trap, fast) or
   ``'rigid'`` (a Gaussian cloud moved by ``nu_true * dl`` per cycle, no dynamics). Reference shots hold phi, so
   their cloud is the t = 0 cloud.
2. Each shot (:mod:`atompump.simulate.design` gives the order): the cloud's 1D density at the imaging time, centred
   on the frame plus the pumped displacement, a Gaussian shot-to-shot position jitter and a slow drift over the
   run (linear in acquisition order plus a sinusoid); atom number with shot-to-shot fluctuations; then the imaging
   chain of :mod:`atompump.simulate.imaging` (PSF, pixels, saturated absorption, probe with fringes, camera).
3. The run is written by :class:`atompump.simulate.formats.RunWriter`; ``truth.json`` holds every true parameter.

``nu_true`` (truth.json) is defined so that injection--recovery is exact: the least-squares slope of the
noiseless centres of mass of the simulated dynamics against ``direction * cycle * dl`` over every shot of the
design (references at cycle 0), with equal weights -- what the analysis' linear fit returns for noise-free data.
For ``dynamics='rigid'`` it is the configured ``nu_true``.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from atompump._logging import Progress
from atompump.errors import ParameterError
from atompump.io.atomic import write_json
from atompump.io.netcdf import write_dataset
from atompump.simulate.design import RunDesign
from atompump.simulate.formats import FORMATS, RunWriter
from atompump.simulate.imaging import (
    Absorption,
    Camera,
    CloudImager,
    LineProfile,
    Optics,
    ProbeBeam,
    ProbeSettings,
    transmitted_intensity_fast,
)

if TYPE_CHECKING:
    from atompump.theory.superlattice import SuperlatticeParams

__all__ = ["Cloud", "Drift", "DynamicsParams", "Numerics", "PumpSequence", "SimulationParams", "TightBinding",
           "cloud_drift_um", "design_run",
           "pump_dynamics", "simulate_run"]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class PumpSequence:
    """The pump sequence as run (the simulator runs it, the theory predicts it).

    Attributes
    ----------
    period_ms : float
        Cycle period T, ms (phi ramped linearly by 2 pi per T).
    phi0 : float
        Phase where the ramp starts, rad.
    ramp_ms : float
        Smooth (sin^2) ramp-on of the phase velocity, ms; 0: sudden start.
    trap_hz, trap_offset_um : float
        Harmonic trap frequency along the pump axis (Hz) and its centre relative to a long-lattice minimum (um).
    atoms_per_tube : float
        Atoms in the central tube at unit filling.
    cloud : {'cloud3d', 'tube'}
    loading : {'long_lattice', 'pump_start', 'populations'}
        Where the band populations are set (:func:`atompump.theory.preparation.prepared_populations`).
    temperature_nK : float
        Temperature at loading, nK.
    statistics : {'boltzmann', 'bose', 'fermi'}
    filling : float
        Particles per long-lattice cell.
    band_populations : tuple of float
        p_n, lowest band first (``loading='populations'``).
    """

    period_ms: float
    phi0: float
    ramp_ms: float
    trap_hz: float
    trap_offset_um: float
    atoms_per_tube: float
    cloud: str
    loading: str
    temperature_nK: float
    statistics: str
    filling: float
    band_populations: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.period_ms <= 0:
            raise ParameterError(f"{{period_ms}} must be positive, got {self.period_ms}", parameters=("period_ms",))


@dataclass(frozen=True)
class Numerics:
    """How the dynamics are integrated: largest time step ``dt`` (hbar/Er,s), trap-splitting ``substeps`` per step
    (continuum model), long-lattice ``cells`` simulated (None: from the cloud size and the cycles) and continuum
    grid ``points_per_cell``."""

    dt: float
    substeps: int
    cells: int | None
    points_per_cell: int


@dataclass(frozen=True)
class TightBinding:
    """The tight-binding model's Rice--Mele couplings, Er,s: ``J1,2 = J +- dJ cos(phi)``, on-site
    ``+-Delta sin(phi)``; ``couplings='lattice'`` maps them from the lattice's bands instead (as the theory)."""

    couplings: str
    J: float
    dJ: float
    Delta: float

    def __post_init__(self) -> None:
        if self.couplings not in ("lattice", "given"):
            raise ParameterError(f"{{couplings}} must be 'lattice' or 'given', got {self.couplings!r}",
                                 parameters=("couplings",))


@dataclass(frozen=True)
class DynamicsParams:
    """How the atoms move: the ``model`` ('rigid', 'continuum' or 'tight_binding'), the pump sequence, the
    numerics, the tight-binding couplings and the superlattice (the theory's
    :class:`~atompump.theory.superlattice.SuperlatticeParams`)."""

    model: str
    pump: PumpSequence
    numerics: Numerics
    tight_binding: TightBinding
    lattice: SuperlatticeParams

    def __post_init__(self) -> None:
        if self.model not in ("rigid", "continuum", "tight_binding"):
            raise ParameterError(f"{{model}} must be one of ['rigid', 'continuum', 'tight_binding'], got "
                                 f"{self.model!r}", parameters=("model",))

    def time_unit_ms(self) -> float:
        """hbar / Er,s in ms."""
        return 1e3 / (2.0 * np.pi * self.lattice.recoil_s_hz)


@dataclass(frozen=True)
class Cloud:
    """The imaged cloud, shot to shot: mean ``atom_number`` and its relative RMS fluctuation
    ``atom_number_jitter``; RMS size ``sigma_um`` [along the pump axis (rigid model only), transverse], um; RMS
    position jitter along (``position_jitter_um``) and across (``transverse_jitter_um``) the pump axis, um."""

    atom_number: float
    atom_number_jitter: float
    sigma_um: tuple[float, float]
    position_jitter_um: float
    transverse_jitter_um: float


@dataclass(frozen=True)
class Drift:
    """Slow drift of the cloud along the pump axis over a run (:func:`cloud_drift_um`): ``um_per_shot`` (linear, in
    acquisition order), a sinusoid of ``amplitude_um`` and period ``period_shots``."""

    um_per_shot: float
    amplitude_um: float
    period_shots: float

    def at(self, order):
        """The drift (um) at acquisition index ``order``."""
        return cloud_drift_um(order, per_shot_um=self.um_per_shot, amplitude_um=self.amplitude_um,
                              period_shots=self.period_shots)


@dataclass(frozen=True)
class SimulationParams:
    """A simulated run: its design, the atoms' dynamics, the cloud, its drift, and the imaging chain (optics,
    probe, absorption, camera) of :mod:`atompump.simulate.imaging`.

    Lengths in um, intensities in camera counts per pixel per exposure. No defaults: the configuration's schema
    holds them (:func:`atompump.stages.simulate.simulation_params` builds these from a config).

    Attributes
    ----------
    design : RunDesign
    format : {'tiff', 'hdf5'}
        How the run is written (:class:`atompump.simulate.formats.RunWriter`).
    dynamics : DynamicsParams
    nu_true : float
        Displacement per cycle (dl) of the 'rigid' model (the other models compute it).
    cloud : Cloud
    drift : Drift
    pump_axis : {'x', 'y'}
        The image axis along which the atoms are pumped.
    optics : Optics
    probe : ProbeSettings
    absorption : Absorption
    camera : Camera
    """

    design: RunDesign
    format: str
    dynamics: DynamicsParams
    nu_true: float
    cloud: Cloud
    drift: Drift
    pump_axis: str
    optics: Optics
    probe: ProbeSettings
    absorption: Absorption
    camera: Camera

    def __post_init__(self) -> None:
        if self.pump_axis not in ("x", "y"):
            raise ParameterError(f"{{pump_axis}} must be 'x' or 'y', got {self.pump_axis!r}",
                                 parameters=("pump_axis",))
        if self.format not in FORMATS:
            raise ParameterError(f"{{fmt}} must be one of {list(FORMATS)}, got {self.format!r}", parameters=("fmt",))

    @property
    def dl_um(self) -> float:
        """The long-lattice period, um (the displacement of one pump cycle)."""
        return self.dynamics.lattice.dl_um

    @property
    def true_pixel_um(self) -> float:
        """Object-plane size of a camera pixel (:attr:`Optics.true_pixel_um`)."""
        return self.optics.true_pixel_um


def design_run(params: SimulationParams) -> list[dict[str, object]]:
    """The acquisition sequence of ``params`` (see :func:`atompump.simulate.design.design_shots`)."""
    return params.design.shots()


# ----------------------------------------------------------------------------------------------- dynamics
def _model(dyn: DynamicsParams, n_cycles_max: float):
    from atompump.simulate.dynamics import ContinuumModel
    from atompump.simulate.tight_binding import TightBindingModel
    from atompump.theory.rice_mele import RiceMeleParams

    lattice, pump, tb = dyn.lattice, dyn.pump, dyn.tight_binding
    cells = dyn.numerics.cells
    if cells is None:  # the cloud, its pumped displacement both ways, and a margin
        cells = int(2 * math.ceil((pump.atoms_per_tube + 2.4 * n_cycles_max + 24) / 2))
    centre = pump.trap_offset_um / lattice.dl_um
    if dyn.model == "continuum":
        return ContinuumModel(lattice, n_cells=cells, points_per_cell=dyn.numerics.points_per_cell,
                              trap_hz=pump.trap_hz, trap_centre=centre)
    if tb.couplings == "lattice":
        from atompump.theory.rice_mele import rice_mele_from_superlattice

        try:
            couplings = rice_mele_from_superlattice(lattice, n_phi=48)
        except ArithmeticError as exc:
            raise ParameterError(f"the lattice has no Rice-Mele limit ({_literal(exc)}): use {{model}}: continuum, "
                                 "or {couplings}: given", parameters=("model", "couplings")) from exc
    else:
        try:
            couplings = RiceMeleParams(J=tb.J, dJ=tb.dJ, Delta=tb.Delta)
        except ValueError as exc:
            raise ParameterError(f"the tight-binding couplings ({{J}}, {{dJ}}, {{Delta}}): {_literal(exc)}",
                                 parameters=("J", "dJ", "Delta")) from exc
    return TightBindingModel(couplings, n_cells=cells, lattice=lattice,
                             trap_hz=pump.trap_hz, trap_centre=centre)


def _literal(exc: Exception) -> str:
    """An exception's text inside a :class:`ParameterError` message template (braces doubled)."""
    return str(exc).replace("{", "{{").replace("}", "}}")


def initial_band_populations(dyn: DynamicsParams, *, negligible: float = 1e-9) -> tuple[float, ...]:
    """Band populations of the simulated cloud at the pump's start, by the theory's own preparation.

    :func:`atompump.theory.preparation.prepared_populations` (the same loading path, temperature and statistics as
    the prediction); bands above the last one holding more than ``negligible`` are left out (renormalised).

    Raises
    ------
    ParameterError
        Invalid populations, or a tight-binding model asked to hold atoms above its two bands.
    """
    from atompump.theory.populations import PopulationError
    from atompump.theory.preparation import prepared_populations

    try:
        pump = dyn.pump
        prep = prepared_populations(dyn.lattice, loading=pump.loading, phi0=pump.phi0,
                                    temperature_nK=pump.temperature_nK, statistics=pump.statistics,
                                    filling=pump.filling, populations=pump.band_populations)
    except PopulationError as exc:
        raise ParameterError(f"{{loading}}, {{temperature_nK}}, {{band_populations}}: {_literal(exc)}",
                             parameters=("loading", "temperature_nK", "band_populations")) from exc
    p = prep.populations
    kept = int(np.flatnonzero(p > negligible).max()) + 1
    if dyn.model == "tight_binding" and kept > 2:
        raise ParameterError(f"the prepared cloud has {p[2:].sum():.2g} of its atoms above band 2, which the "
                             "tight-binding model does not hold: use {model}: continuum, or lower {temperature_nK}",
                             parameters=("model", "temperature_nK"))
    p = p[:kept] / p[:kept].sum()
    return tuple(float(x) for x in p)


def pump_dynamics(dyn: DynamicsParams, *, cycles: tuple[float, ...], directions: tuple[int, ...],
                  workers: int = 1) -> xr.Dataset:
    """Simulate the pump in each direction up to ``max(cycles)``; densities after each half cycle and at ``cycles``.

    ``workers`` > 1 simulates the directions in that many processes at once (each direction is independent: the
    numbers are the same as with one).

    Returns
    -------
    xarray.Dataset
        :func:`atompump.simulate.dynamics.run_pump`'s variables with a leading ``direction`` dimension.
    """
    from atompump.simulate.dynamics import InitialEnsemble, PumpProtocol, initial_ensemble, run_pump
    from atompump.theory.populations import kT_in_energy_unit

    lattice, pump = dyn.lattice, dyn.pump
    n_max = max(cycles)
    model = _model(dyn, n_max)
    kT = kT_in_energy_unit(pump.temperature_nK, energy_unit_hz=lattice.recoil_s_hz)
    populations = initial_band_populations(dyn)
    ensemble = InitialEnsemble(band_populations=populations, atoms_per_tube=pump.atoms_per_tube,
                               cloud=pump.cloud, temperature=kT)
    if dyn.model == "tight_binding" and dyn.tight_binding.couplings == "given":
        _check_couplings(model, lattice)
    orbitals = initial_ensemble(model, ensemble, phi0=pump.phi0)
    period = pump.period_ms / dyn.time_unit_ms()
    protocols = [PumpProtocol(period=period, direction=int(direction), phi0=pump.phi0, dt=dyn.numerics.dt,
                              ramp=pump.ramp_ms / dyn.time_unit_ms(), substeps=dyn.numerics.substeps)
                 for direction in directions]
    one_direction = partial(run_pump, model, orbitals, n_cycles=n_max, extra_cycles=cycles, dl_um=lattice.dl_um)
    workers = max(1, min(int(workers), len(protocols)))
    if workers == 1:
        runs = [one_direction(protocol) for protocol in protocols]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            runs = list(pool.map(one_direction, protocols))
    for direction, run in zip(directions, runs):
        log.info("%s dynamics, direction %+d: %.4f dl per cycle over %g cycles (T = %g ms)", dyn.model, direction,
                 run.attrs["displacement_per_cycle_dl"], n_max, pump.period_ms)
    for run in runs:
        # atoms excited to high bands are not held by the trap and cross the periodic box: a few 1e-5 of them
        # move the centre of mass by < 1e-3 dl; more means the box is too small for the cloud or the pump
        outer = model.positions.size // 20
        density = run.density.values
        edge = max(density[:, :outer].sum(axis=1).max(), density[:, -outer:].sum(axis=1).max())
        if edge > 1e-4:
            raise ParameterError(f"the simulated cloud reaches the edge of the simulation grid ({edge:.1e} of the "
                                 "atoms in its outer 5 %): raise {cells}", parameters=("cells",))
    ds = xr.concat(runs, dim=xr.DataArray(list(directions), dims="direction", name="direction"),
                   combine_attrs="drop_conflicts")
    ds.attrs.update(model=dyn.model, period_ms=pump.period_ms, period_hbar_per_Er=period,
                    band_populations_start=list(populations),
                    time_unit_ms=dyn.time_unit_ms(), trap_hz=pump.trap_hz,
                    dynamics_key=dynamics_key(dyn, cycles=cycles, directions=directions))
    ds["displacement_per_cycle_dl"] = ("direction", [r.attrs["displacement_per_cycle_dl"] for r in runs])
    return ds


def dynamics_key(dyn: DynamicsParams, *, cycles, directions) -> str:
    """What :func:`pump_dynamics` computes from, as canonical JSON: every parameter, the cycles and the directions.

    Written to the simulated run's ``dynamics.nc`` (attribute ``dynamics_key``), so that the theory's prediction
    (:func:`predicted_centres`) reuses the simulator's dynamics when it would compute the same thing, instead of
    computing it a second time (issue 15, item 6).
    """
    import json

    return json.dumps({"params": asdict(dyn), "cycles": [float(c) for c in cycles],
                       "directions": [int(d) for d in directions]}, sort_keys=True)


def _check_couplings(model, lattice) -> float:
    """Warn when the tight-binding couplings do not match the configured lattice's smallest gap (phi = 0).

    The couplings come from ``simulation.tight_binding``, not from the ``lattice`` section; returns the relative
    difference of the two gaps.
    """
    from atompump.simulate.dynamics import ContinuumModel

    continuum = float(ContinuumModel(lattice, n_cells=4).band_gap(np.array([0.0]))[0])
    tight = float(model.band_gap(np.array([0.0]))[0])
    mismatch = abs(tight - continuum) / continuum
    if mismatch > 0.1:
        log.warning("the tight-binding couplings give a gap of %.4g Er,s at phi = 0 but the configured lattice has "
                    "%.4g Er,s: set simulation.tight_binding (J, dJ, Delta) for this lattice, or use "
                    "simulation.dynamics: continuum", tight, continuum)
    return mismatch


def _rigid_dynamics(params: SimulationParams) -> xr.Dataset:
    """The skeleton's atom model as a dynamics Dataset: a Gaussian moved by nu_true * dl per cycle."""
    sigma = params.cloud.sigma_um[0]
    x = np.linspace(-8 * sigma, 8 * sigma, 801) / params.dl_um
    cycles = np.unique(np.r_[0.0, np.asarray(params.design.cycles, float)])
    dens, com = [], []
    for d in params.design.directions:
        shifts = d * params.nu_true * cycles
        dens.append([np.exp(-0.5 * ((x - s) * params.dl_um / sigma) ** 2) for s in shifts])
        com.append(shifts)
    dens = np.array(dens)
    dens /= dens.sum(axis=-1, keepdims=True)
    return xr.Dataset({"density": (("direction", "sample", "x"), dens,
                                   {"units": "1", "long_name": "fraction of the atoms at each point"}),
                       "com_dl": (("direction", "sample"), com, {"units": "dl", "long_name": "centre of mass"})},
                      coords={"direction": list(params.design.directions),
                              "cycle": ("sample", cycles, {"units": "1", "long_name": "pump cycles"}),
                              "x": ("x", x, {"units": "dl", "long_name": "position"}),
                              "x_um": ("x", x * params.dl_um, {"units": "um", "long_name": "position"})},
                      attrs={"model": "rigid", "nu_true": params.nu_true})


def design_displacement(cycles, directions, x_dl) -> float:
    """Displacement per cycle (dl) a run of shots at ``cycles`` and ``directions`` measures from noiseless centres.

    The least-squares slope of the centres ``x_dl`` (dl, one per shot) against ``direction * cycle``: what the
    linear fit of a run of this design gives without noise. The simulator's ``nu_true`` and the theory's
    ``nu_theory`` for a run are both this slope (NaN when all shots share one lever arm).
    """
    lever = np.asarray(directions, float) * np.asarray(cycles, float)
    x = np.asarray(x_dl, float)
    if lever.size < 2 or np.ptp(lever) == 0:
        return float("nan")
    return float(np.polyfit(lever, x, 1)[0])


def _nu_true(design: list[dict], x_dyn_um: dict, dl_um: float) -> float:
    """Least-squares slope of the noiseless centres against direction * cycle * dl, over the design's shots."""
    return design_displacement([e["cycle"] for e in design], [e["direction"] for e in design],
                               [x_dyn_um[(e["cycle"], e["direction"])] / dl_um for e in design])


def predicted_centres(dyn: DynamicsParams, *, cycles, directions=(1, -1), computed: xr.Dataset | None = None) -> dict:
    """Centre of mass of the pumped cloud after each of ``cycles``, by the exact dynamics of the pump sequence.

    The theory's full prediction: the same model and code as the simulator's atoms (:func:`pump_dynamics`) for
    the configured lattice, trap, cloud, loading, temperature, period and ramp, so it holds every deviation from
    ``sum_n p_n C_n`` that these cause (non-adiabatic transfer at the start and at the gap minima, atoms the trap
    keeps from following).

    Returns
    -------
    dict
        ``cycles`` (list), ``centre_dl`` ({direction: [centre minus start, dl] per cycle}),
        ``per_cycle_dl`` ({direction: least-squares slope over the cycles}), ``band_population_end``
        ({direction: [p_n] after the last cycle}), ``model`` and ``band_populations_start``.

    ``computed`` is a :func:`pump_dynamics` result already at hand (a simulated run's ``dynamics.nc``): used when
    its ``dynamics_key`` is that of this call (the same parameters, cycles and directions), else ignored.
    """
    cycles = sorted({0.0, *(float(c) for c in cycles)})
    directions = tuple(int(d) for d in directions)
    if computed is not None and computed.attrs.get("dynamics_key") == dynamics_key(dyn, cycles=cycles,
                                                                                   directions=directions):
        log.info("the simulated run's dynamics are this prediction's (same parameters, cycles and directions): "
                 "reused, not computed again")
        ds = computed
    else:
        ds = pump_dynamics(dyn, cycles=tuple(cycles), directions=directions)
    out = {"model": dyn.model, "cycles": cycles, "centre_dl": {}, "per_cycle_dl": {}, "band_population_end": {},
           "band_populations_start": [float(p) for p in np.atleast_1d(ds.attrs["band_populations_start"])]}
    for d in directions:
        run = ds.sel(direction=int(d))
        at = [int(np.argmin(np.abs(run.cycle.values - c))) for c in cycles]
        centre = (run.com_dl.values[at] - run.com_dl.values[0]).tolist()
        out["centre_dl"][str(int(d))] = centre
        out["per_cycle_dl"][str(int(d))] = design_displacement(cycles, [d] * len(cycles), centre)
        out["band_population_end"][str(int(d))] = run.band_population.values[-1].tolist()
    return out


def cloud_drift_um(order: int | np.ndarray, *, per_shot_um: float, amplitude_um: float, period_shots: float):
    """Slow drift of the cloud along the pump axis at acquisition index ``order``, um.

    ``per_shot_um * order + amplitude_um * sin(2 pi order / period_shots)``: a linear creep (e.g. a drifting trap
    or lattice beam) plus a slow oscillation (e.g. thermal cycling of the optics). Shot-to-shot position jitter is
    independent Gaussian noise on top (``position_jitter_um``).
    """
    order = np.asarray(order, dtype=float)
    return per_shot_um * order + amplitude_um * np.sin(2.0 * np.pi * order / period_shots)



def simulate_run(out_dir: str | os.PathLike, params: SimulationParams, *, workers: int = 1) -> dict:
    """Simulate a run and write it to ``out_dir``: the run's files (see :mod:`atompump.simulate.formats`),
    ``truth.json`` and ``dynamics.nc`` (the cloud's density after each half cycle).

    Returns the truth dictionary (also written to ``truth.json``). BLAS runs on one thread (small matrices;
    threads contending for shared cores are several times slower); ``workers`` processes simulate the pump
    directions at once (:func:`pump_dynamics`; the same numbers).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _simulate_run(Path(out_dir), params, workers=workers)


def _simulate_run(out_dir: Path, params: SimulationParams, *, workers: int = 1) -> dict:
    rng = np.random.default_rng(params.design.seed)
    design = design_run(params)
    if params.dynamics.model == "rigid":
        dyn = _rigid_dynamics(params)
    else:
        dyn = pump_dynamics(params.dynamics, cycles=tuple(params.design.cycles),
                            directions=tuple(params.design.directions), workers=workers)
    write_dataset(dyn, out_dir / "dynamics.nc", title="atompump simulation: the atoms' pump dynamics")

    # noiseless centre of mass (um, relative to t = 0) and the cloud's line profile per setting
    x_um = dyn.x_um.values
    profiles: dict[tuple[float, int], LineProfile] = {}
    x_dyn: dict[tuple[float, int], float] = {}
    for entry in design:
        key = (entry["cycle"], entry["direction"])
        if key in profiles:
            continue
        sel = dyn.sel(direction=entry["direction"])
        i = int(np.argmin(np.abs(sel.cycle.values - entry["cycle"])))
        profiles[key] = LineProfile.from_density(x_um, sel.density.values[i])
        x_dyn[key] = float((sel.com_dl.values[i] - sel.com_dl.values[0]) * params.dl_um)
    nu_true = params.nu_true if params.dynamics.model == "rigid" else _nu_true(design, x_dyn, params.dl_um)

    pix = params.true_pixel_um
    cloud, camera, probe_settings = params.cloud, params.camera, params.probe
    ny, nx = camera.image_shape
    n_along, n_across = (nx, ny) if params.pump_axis == "x" else (ny, nx)
    centre_along, centre_across = 0.5 * (n_along - 1) * pix, 0.5 * (n_across - 1) * pix
    imagers = {key: CloudImager(prof, transverse_sigma_um=cloud.sigma_um[1], psf=params.optics.psf,
                                pixel_size_um=pix)
               for key, prof in profiles.items()}
    probe = probe_settings.beam((ny, nx), pixel_size_um=pix, rng=rng)
    phases = rng.uniform(0.0, 2.0 * np.pi, len(probe.amplitudes))

    writer = RunWriter(out_dir, fmt=params.format)
    truth_shots = []
    progress = Progress(log, "simulate", len(design), unit="shots imaged and written")
    for entry in design:
        key = (entry["cycle"], entry["direction"])
        order = int(entry["order"])
        drift = float(params.drift.at(order))
        jitter = rng.normal(0.0, cloud.position_jitter_um) if cloud.position_jitter_um > 0 else 0.0
        x_true = centre_along + x_dyn[key] + drift + jitter
        y_true = centre_across + (rng.normal(0.0, cloud.transverse_jitter_um)
                                  if cloud.transverse_jitter_um > 0 else 0.0)
        n_atoms = max(cloud.atom_number * (1.0 + cloud.atom_number_jitter * rng.normal()), 0.0)
        phases = phases + rng.normal(0.0, probe_settings.fringe_phase_walk_rad, phases.size)
        probe_phases = phases + rng.normal(0.0, probe_settings.fringe_phase_jitter_rad, phases.size)
        power_atoms, power_probe = 1.0 + probe_settings.power_jitter * rng.normal(size=2)
        frames = _shot_frames(imagers[key], probe, params, x_true, y_true, n_atoms, phases, probe_phases,
                              power_atoms, power_probe, rng)
        writer.add(entry, frames)
        truth_shots.append({"shot": entry["shot"], "order": order, "x_true_um": x_true, "y_true_um": y_true,
                            "atom_number": n_atoms, "cycle": entry["cycle"], "direction": entry["direction"],
                            "reference": entry["reference"], "repeat": entry["repeat"],
                            "sequence_cycles": entry["sequence_cycles"], "displacement_um": x_dyn[key],
                            "drift_um": drift, "jitter_um": jitter})
        progress.update()
    writer.close()
    truth = {
        "nu_true": nu_true,
        "nu_true_definition": "least-squares slope of the noiseless centre of mass against direction * cycle * dl "
                              "over the design's shots (equal weights); rigid model: the configured nu_true",
        "dl_um": params.dl_um,
        "displacement_per_cycle_um": nu_true * params.dl_um,
        "true_pixel_size_um": pix,
        "dynamics": {
            "model": params.dynamics.model,
            "centre_of_mass_um": [{"cycle": c, "direction": d, "displacement_um": v} for (c, d), v in x_dyn.items()],
            "displacement_per_cycle_dl": {str(int(d)): float(v) for d, v in zip(
                dyn.direction.values, dyn["displacement_per_cycle_dl"].values)} if "displacement_per_cycle_dl" in dyn
            else {str(int(d)): params.nu_true for d in params.design.directions},
        },
        "params": asdict(params),
        "shots": truth_shots,
    }
    write_json(out_dir / "truth.json", truth)
    log.info("simulated %d shots into %s (nu_true = %.5f)", len(design), out_dir, nu_true)
    return truth


def _shot_frames(imager: CloudImager, probe: ProbeBeam, params: SimulationParams, x_true: float, y_true: float,
                 n_atoms: float, phases: np.ndarray, probe_phases: np.ndarray, power_atoms: float,
                 power_probe: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The atoms, probe and dark frames of one shot (uint16 counts)."""
    i_atoms = probe.intensity(phases, power_atoms)
    i0, j0, box = imager.box((x_true, y_true))
    od = (params.absorption.cross_section_um2 * n_atoms) * box
    frame_view = i_atoms if params.pump_axis == "x" else i_atoms.T
    n_across, n_along = frame_view.shape
    a0, a1 = max(i0, 0), min(i0 + od.shape[1], n_along)
    t0, t1 = max(j0, 0), min(j0 + od.shape[0], n_across)
    if a0 < a1 and t0 < t1:
        sub = od[t0 - j0:t1 - j0, a0 - i0:a1 - i0]
        region = frame_view[t0:t1, a0:a1]
        region[:] = transmitted_intensity_fast(region, sub, alpha=params.absorption.alpha,
                                               isat_counts=params.absorption.isat_counts)
    camera = params.camera
    frames = {"atoms": camera.counts(i_atoms, rng),
              "probe": camera.counts(probe.intensity(probe_phases, power_probe), rng),
              "dark": camera.dark(rng)}
    return frames
