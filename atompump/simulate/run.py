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
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import xarray as xr

from atompump._logging import Progress
from atompump.constants import H_PLANCK, SPECIES
from atompump.errors import ConfigError
from atompump.io.atomic import write_json
from atompump.io.netcdf import write_dataset
from atompump.simulate.design import ORDERS, design_shots, shot_count
from atompump.simulate.formats import FORMATS, RunWriter
from atompump.simulate.imaging import (
    CloudImager,
    LineProfile,
    PointSpreadFunction,
    ProbeBeam,
    camera_counts,
    dark_frame,
    transmitted_intensity_fast,
)

__all__ = ["DynamicsParams", "SimulationParams", "cloud_drift_um", "design_run", "planned_shot_count",
           "pump_dynamics", "simulate_run"]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class DynamicsParams:
    """How the atoms move (see ``config/README.md``, section ``simulation.pump``/``initial``/``tight_binding``).

    Times in ms or hbar/Er,s as named, frequencies in Hz, lengths in um, depths in the lattice's recoil energies.
    """

    model: str = "rigid"
    period_ms: float = 400.0
    dt: float = 4.0
    substeps: int = 4
    phi0: float = 0.0
    ramp_ms: float = 0.0
    trap_hz: float = 50.0
    trap_offset_um: float = 0.0
    cells: int | None = None
    points_per_cell: int = 16
    loading: str = "populations"
    band_populations: tuple[float, ...] = (1.0,)
    statistics: str = "boltzmann"
    filling: float = 1.0
    atoms_per_tube: float = 35.0
    cloud: str = "cloud3d"
    temperature_nK: float = 0.0
    couplings: str = "given"
    tb_J: float = 0.033
    tb_dJ: float = 0.028
    tb_Delta: float = 2.258
    Vs_Er: float = 10.0
    Vl_Er: float = 20.0
    lambda_l_nm: float = 1534.0
    mass_amu: float = SPECIES["Rb87"].mass_amu

    def __post_init__(self) -> None:
        # the config's schema refuses these before any job, naming the keys; the library names its own fields
        if self.model not in ("rigid", "continuum", "tight_binding"):
            raise ValueError(f"model must be one of ['rigid', 'continuum', 'tight_binding'], got {self.model!r}")
        if self.period_ms <= 0:
            raise ValueError(f"period_ms must be positive, got {self.period_ms}")
        if self.couplings not in ("lattice", "given"):
            raise ValueError(f"couplings must be 'lattice' or 'given', got {self.couplings!r}")

    def lattice(self):
        from atompump.theory.superlattice import SuperlatticeParams

        return SuperlatticeParams(Vs_Er=self.Vs_Er, Vl_Er=self.Vl_Er, lambda_l_nm=self.lambda_l_nm,
                                  mass_amu=self.mass_amu)

    def time_unit_ms(self) -> float:
        """hbar / Er,s in ms."""
        return 1e3 / (2.0 * np.pi * self.lattice().recoil_s_hz)


@dataclass(frozen=True)
class SimulationParams:
    """Parameters of a simulated run (see ``config/README.md`` for each key).

    Lengths in um, intensities in camera counts per pixel per exposure. ``pixel_size_um`` is the analysis'
    calibration; the true object-plane pixel is ``camera_pixel_um / magnification`` when ``magnification`` is
    given (a miscalibration then scales the measured displacement), else ``pixel_size_um``.
    """

    seed: int = 2016
    cycles: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0)
    directions: tuple[int, ...] = (1, -1)
    repeats: int = 10
    references: bool = False
    order: str = "interleaved"
    nu_true: float = 1.0
    dl_um: float = 0.767
    dynamics: DynamicsParams = field(default_factory=DynamicsParams)
    atom_number: float = 3000.0
    atom_number_jitter: float = 0.05
    cloud_sigma_um: tuple[float, float] = (6.0, 6.0)
    centre_um: tuple[float, float] | None = None
    position_jitter_um: float = 0.3
    transverse_jitter_um: float = 0.0
    drift_um_per_shot: float = 0.0
    drift_amplitude_um: float = 0.0
    drift_period_shots: float = 50.0
    image_shape: tuple[int, int] = (64, 128)
    pixel_size_um: float = 1.0
    magnification: float | None = None
    camera_pixel_um: float = 13.0
    pump_axis: str = "x"
    psf: str = "none"
    numerical_aperture: float = 0.3
    imaging_wavelength_um: float = 0.780
    probe_counts: float = 3000.0
    probe_waist_um: float | None = None
    probe_power_jitter: float = 0.0
    fringe_amplitude: float = 0.0
    fringe_count: int = 3
    fringe_period_px: tuple[float, float] = (6.0, 30.0)
    fringe_phase_jitter_rad: float = 0.3
    fringe_phase_walk_rad: float = 1.0
    camera_gain: float = 1.0
    dark_offset_counts: float = 100.0
    read_noise_counts: float = 4.0
    excess_noise_factor: float = 1.0
    noise_model: str = "poisson"
    full_well_counts: int = 65535
    cross_section_um2: float = 0.2907
    alpha: float = 1.0
    isat_counts: float | None = None
    format: str = "tiff"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        if not self.cycles:
            raise ValueError("cycles must list at least one number of pump cycles")
        if any(d not in (1, -1) for d in self.directions) or not self.directions:
            raise ValueError(f"directions must be a non-empty list of +1/-1, got {list(self.directions)}")
        if self.pump_axis not in ("x", "y"):
            raise ValueError(f"pump_axis must be 'x' or 'y', got {self.pump_axis!r}")
        if min(self.image_shape) < 8:
            raise ValueError(f"image_shape must be at least 8x8 pixels, got {self.image_shape}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {list(ORDERS)}, got {self.order!r}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {list(FORMATS)}, got {self.format!r}")

    @property
    def true_pixel_um(self) -> float:
        """Object-plane size of a camera pixel: camera_pixel_um / magnification, or pixel_size_um."""
        return self.camera_pixel_um / self.magnification if self.magnification else self.pixel_size_um


def planned_shot_count(simulation: dict) -> int:
    """Number of shots :func:`design_run` makes for a ``simulation`` config section (missing keys: the schema's
    defaults, :func:`atompump.config.config_section`)."""
    from atompump.config import config_section

    simulation = config_section("simulation", simulation)
    return shot_count(cycles=simulation["cycles"], directions=simulation["directions"],
                      repeats=int(simulation["repeats"]), references=bool(simulation["references"]))


def design_run(params: SimulationParams) -> list[dict[str, object]]:
    """The acquisition sequence of ``params`` (see :func:`atompump.simulate.design.design_shots`)."""
    return design_shots(cycles=params.cycles, directions=params.directions, repeats=params.repeats,
                        references=params.references, order=params.order, seed=params.seed)


# ----------------------------------------------------------------------------------------------- dynamics
def _model(dyn: DynamicsParams, n_cycles_max: float):
    from atompump.simulate.dynamics import ContinuumModel
    from atompump.simulate.tight_binding import TightBindingModel
    from atompump.theory.rice_mele import RiceMeleParams

    lattice = dyn.lattice()
    cells = dyn.cells
    if cells is None:  # the cloud, its pumped displacement both ways, and a margin
        cells = int(2 * math.ceil((dyn.atoms_per_tube + 2.4 * n_cycles_max + 24) / 2))
    centre = dyn.trap_offset_um / lattice.dl_um
    if dyn.model == "continuum":
        return ContinuumModel(lattice, n_cells=cells, points_per_cell=dyn.points_per_cell, trap_hz=dyn.trap_hz,
                              trap_centre=centre)
    if dyn.couplings == "lattice":
        from atompump.theory.rice_mele import rice_mele_from_superlattice

        try:
            couplings = rice_mele_from_superlattice(lattice, n_phi=48)
        except ArithmeticError as exc:
            raise ConfigError(f"the configured lattice has no Rice-Mele limit ({exc}): use simulation.dynamics: "
                              "continuum, or simulation.tight_binding.couplings: given") from exc
    else:
        try:
            couplings = RiceMeleParams(J=dyn.tb_J, dJ=dyn.tb_dJ, Delta=dyn.tb_Delta)
        except ValueError as exc:
            raise ConfigError(f"config section 'simulation.tight_binding': {exc}") from exc
    return TightBindingModel(couplings, n_cells=cells, lattice=lattice,
                             trap_hz=dyn.trap_hz, trap_centre=centre)


def initial_band_populations(dyn: DynamicsParams, *, negligible: float = 1e-9) -> tuple[float, ...]:
    """Band populations of the simulated cloud at the pump's start, by the theory's own preparation.

    :func:`atompump.theory.preparation.prepared_populations` (the same loading path, temperature and statistics as
    the prediction); bands above the last one holding more than ``negligible`` are left out (renormalised).

    Raises
    ------
    ConfigError
        Invalid populations, or a tight-binding model asked to hold atoms above its two bands.
    """
    from atompump.theory.populations import PopulationError
    from atompump.theory.preparation import prepared_populations

    try:
        prep = prepared_populations(dyn.lattice(), loading=dyn.loading, phi0=dyn.phi0,
                                    temperature_nK=dyn.temperature_nK, statistics=dyn.statistics,
                                    filling=dyn.filling, populations=dyn.band_populations)
    except PopulationError as exc:
        raise ConfigError(f"config section 'pump' (loading, temperature_nK, band_populations): {exc}") from exc
    p = prep.populations
    kept = int(np.flatnonzero(p > negligible).max()) + 1
    if dyn.model == "tight_binding" and kept > 2:
        raise ConfigError(f"the prepared cloud has {p[2:].sum():.2g} of its atoms above band 2, which the "
                          "tight-binding model does not hold: use simulation.dynamics: continuum, or lower "
                          "pump.temperature_nK")
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

    lattice = dyn.lattice()
    n_max = max(cycles)
    model = _model(dyn, n_max)
    kT = kT_in_energy_unit(dyn.temperature_nK, energy_unit_hz=lattice.recoil_s_hz)
    populations = initial_band_populations(dyn)
    ensemble = InitialEnsemble(band_populations=populations, atoms_per_tube=dyn.atoms_per_tube,
                               cloud=dyn.cloud, temperature=kT)
    if dyn.model == "tight_binding" and dyn.couplings == "given":
        _check_couplings(model, lattice)
    orbitals = initial_ensemble(model, ensemble, phi0=dyn.phi0)
    period = dyn.period_ms / dyn.time_unit_ms()
    protocols = [PumpProtocol(period=period, direction=int(direction), phi0=dyn.phi0, dt=dyn.dt,
                              ramp=dyn.ramp_ms / dyn.time_unit_ms(), substeps=dyn.substeps)
                 for direction in directions]
    pump = partial(run_pump, model, orbitals, n_cycles=n_max, extra_cycles=cycles, dl_um=lattice.dl_um)
    workers = max(1, min(int(workers), len(protocols)))
    if workers == 1:
        runs = [pump(protocol) for protocol in protocols]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            runs = list(pool.map(pump, protocols))
    for direction, run in zip(directions, runs):
        log.info("%s dynamics, direction %+d: %.4f dl per cycle over %g cycles (T = %g ms)", dyn.model, direction,
                 run.attrs["displacement_per_cycle_dl"], n_max, dyn.period_ms)
    for run in runs:
        # atoms excited to high bands are not held by the trap and cross the periodic box: a few 1e-5 of them
        # move the centre of mass by < 1e-3 dl; more means the box is too small for the cloud or the pump
        outer = model.positions.size // 20
        density = run.density.values
        edge = max(density[:, :outer].sum(axis=1).max(), density[:, -outer:].sum(axis=1).max())
        if edge > 1e-4:
            raise ConfigError(f"the simulated cloud reaches the edge of the simulation grid ({edge:.1e} of the "
                              "atoms in its outer 5 %): raise simulation.pump.cells")
    ds = xr.concat(runs, dim=xr.DataArray(list(directions), dims="direction", name="direction"),
                   combine_attrs="drop_conflicts")
    ds.attrs.update(model=dyn.model, period_ms=dyn.period_ms, period_hbar_per_Er=period,
                    band_populations_start=list(populations),
                    time_unit_ms=dyn.time_unit_ms(), trap_hz=dyn.trap_hz,
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
    sigma = params.cloud_sigma_um[0]
    x = np.linspace(-8 * sigma, 8 * sigma, 801) / params.dl_um
    cycles = np.unique(np.r_[0.0, np.asarray(params.cycles, float)])
    dens, com = [], []
    for d in params.directions:
        shifts = d * params.nu_true * cycles
        dens.append([np.exp(-0.5 * ((x - s) * params.dl_um / sigma) ** 2) for s in shifts])
        com.append(shifts)
    dens = np.array(dens)
    dens /= dens.sum(axis=-1, keepdims=True)
    return xr.Dataset({"density": (("direction", "sample", "x"), dens), "com_dl": (("direction", "sample"), com)},
                      coords={"direction": list(params.directions), "cycle": ("sample", cycles), "x": x,
                              "x_um": ("x", x * params.dl_um)},
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
    rng = np.random.default_rng(params.seed)
    design = design_run(params)
    if params.dynamics.model == "rigid":
        dyn = _rigid_dynamics(params)
    else:
        dyn = pump_dynamics(params.dynamics, cycles=tuple(params.cycles), directions=tuple(params.directions),
                            workers=workers)
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
    ny, nx = params.image_shape
    n_along, n_across = (nx, ny) if params.pump_axis == "x" else (ny, nx)
    if params.centre_um is None:
        centre_along, centre_across = 0.5 * (n_along - 1) * pix, 0.5 * (n_across - 1) * pix
    else:
        centre_along, centre_across = params.centre_um
    psf = PointSpreadFunction(params.psf, params.imaging_wavelength_um, params.numerical_aperture)
    imagers = {key: CloudImager(prof, transverse_sigma_um=params.cloud_sigma_um[1], psf=psf, pixel_size_um=pix)
               for key, prof in profiles.items()}
    waist_px = None if params.probe_waist_um is None else params.probe_waist_um / pix
    probe = ProbeBeam.with_random_fringes((ny, nx), peak_counts=params.probe_counts, waist_px=waist_px,
                                          amplitude=params.fringe_amplitude, count=params.fringe_count,
                                          period_px=params.fringe_period_px, rng=rng)
    phases = rng.uniform(0.0, 2.0 * np.pi, len(probe.amplitudes))
    cam = dict(rng=rng, gain=params.camera_gain, offset_counts=params.dark_offset_counts,
               read_noise_counts=params.read_noise_counts, excess_noise_factor=params.excess_noise_factor,
               noise_model=params.noise_model, full_well_counts=params.full_well_counts)

    writer = RunWriter(out_dir, fmt=params.format)
    truth_shots = []
    progress = Progress(log, "simulate", len(design), unit="shots imaged and written")
    for entry in design:
        key = (entry["cycle"], entry["direction"])
        order = int(entry["order"])
        drift = float(cloud_drift_um(order, per_shot_um=params.drift_um_per_shot,
                                     amplitude_um=params.drift_amplitude_um, period_shots=params.drift_period_shots))
        jitter = rng.normal(0.0, params.position_jitter_um) if params.position_jitter_um > 0 else 0.0
        x_true = centre_along + x_dyn[key] + drift + jitter
        y_true = centre_across + (rng.normal(0.0, params.transverse_jitter_um)
                                  if params.transverse_jitter_um > 0 else 0.0)
        n_atoms = max(params.atom_number * (1.0 + params.atom_number_jitter * rng.normal()), 0.0)
        phases = phases + rng.normal(0.0, params.fringe_phase_walk_rad, phases.size)
        probe_phases = phases + rng.normal(0.0, params.fringe_phase_jitter_rad, phases.size)
        power_atoms, power_probe = 1.0 + params.probe_power_jitter * rng.normal(size=2)
        frames = _shot_frames(imagers[key], probe, params, x_true, y_true, n_atoms, phases, probe_phases,
                              power_atoms, power_probe, cam)
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
            else {str(int(d)): params.nu_true for d in params.directions},
        },
        "params": asdict(params),
        "shots": truth_shots,
    }
    write_json(out_dir / "truth.json", truth)
    log.info("simulated %d shots into %s (nu_true = %.5f)", len(design), out_dir, nu_true)
    return truth


def _shot_frames(imager: CloudImager, probe: ProbeBeam, params: SimulationParams, x_true: float, y_true: float,
                 n_atoms: float, phases: np.ndarray, probe_phases: np.ndarray, power_atoms: float,
                 power_probe: float, cam: dict) -> dict[str, np.ndarray]:
    """The atoms, probe and dark frames of one shot (uint16 counts)."""
    i_atoms = probe.intensity(phases, power_atoms)
    i0, j0, box = imager.box((x_true, y_true))
    od = (params.cross_section_um2 * n_atoms) * box
    frame_view = i_atoms if params.pump_axis == "x" else i_atoms.T
    n_across, n_along = frame_view.shape
    a0, a1 = max(i0, 0), min(i0 + od.shape[1], n_along)
    t0, t1 = max(j0, 0), min(j0 + od.shape[0], n_across)
    if a0 < a1 and t0 < t1:
        sub = od[t0 - j0:t1 - j0, a0 - i0:a1 - i0]
        region = frame_view[t0:t1, a0:a1]
        region[:] = transmitted_intensity_fast(region, sub, alpha=params.alpha, isat_counts=params.isat_counts)
    frames = {"atoms": camera_counts(i_atoms, **cam),
              "probe": camera_counts(probe.intensity(probe_phases, power_probe), **cam),
              "dark": dark_frame(params.image_shape, **cam)}
    return frames
