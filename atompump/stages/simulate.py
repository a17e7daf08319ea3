"""Stage simulate: a simulated run written in the lab's format.

The configuration boundary of the simulator: one function per parameter object of :mod:`atompump.simulate`,
each built from the config section it mirrors (defaults come from the schema only: give a config filled by
:func:`atompump.config.fill_defaults`), and the map from the library's parameter names to config keys that
turns the library's :class:`~atompump.errors.ParameterError` into a :class:`~atompump.errors.ConfigError` naming
the key (:func:`atompump.config.config_keys`).

=========================  =============================================================================
object                     config
=========================  =============================================================================
``RunDesign``              ``simulation``: seed, cycles, directions, repeats, references, order
``PumpSequence``           ``pump``
``Numerics``               ``simulation.pump``
``TightBinding``           ``simulation.tight_binding``
``SuperlatticeParams``     ``lattice``, ``atom``
``DynamicsParams``         ``simulation.dynamics`` (or ``theory.dynamics``) and the four above
``Cloud``                  ``simulation``: atom_number(_jitter), cloud_sigma_um, position/transverse jitter
``Drift``                  ``simulation.drift``
``Optics``                 ``simulation.optics`` (its ``PointSpreadFunction``), ``imaging.pixel_size_um``, ``atom``
``ProbeSettings``          ``simulation.probe``, ``simulation.probe_counts``
``Absorption``             ``imaging``: cross_section_um2 (or the species'), alpha, isat_counts
``Camera``                 ``simulation.camera``, image_shape, camera_gain, dark_offset_counts, read_noise_counts
``SimulationParams``       all of these, ``simulation.format``, ``simulation.nu_true``, ``imaging.pump_axis``
=========================  =============================================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from atompump.config import config_keys, config_section, cross_section_um2, lattice_params, species

__all__ = [
    'DYNAMICS_KEYS',
    'SIMULATION_KEYS',
    'THEORY_DYNAMICS_KEYS',
    'dynamics_params',
    'planned_shot_count',
    'run_design',
    'simulate_stage',
    'simulation_params',
]

Config = Mapping[str, Any]

#: The config key of each parameter the dynamics' errors name (``model``: the simulator's; the theory's is
#: ``theory.dynamics``).
DYNAMICS_KEYS = {
    "model": "simulation.dynamics",
    "period_ms": "pump.period_ms",
    "loading": "pump.loading",
    "temperature_nK": "pump.temperature_nK",
    "band_populations": "pump.band_populations",
    "atoms_per_tube": "pump.atoms_per_tube",
    "cells": "simulation.pump.cells",
    "couplings": "simulation.tight_binding.couplings",
    "J": "simulation.tight_binding.J",
    "dJ": "simulation.tight_binding.dJ",
    "Delta": "simulation.tight_binding.Delta",
}

#: The same for the theory's prediction, whose model is ``theory.dynamics``.
THEORY_DYNAMICS_KEYS = {**DYNAMICS_KEYS, "model": "theory.dynamics"}

#: The config key of each parameter the simulator's errors name.
SIMULATION_KEYS = {
    **DYNAMICS_KEYS,
    "repeats": "simulation.repeats",
    "cycles": "simulation.cycles",
    "directions": "simulation.directions",
    "order": "simulation.order",
    "fmt": "simulation.format",
    "pump_axis": "imaging.pump_axis",
    "kind": "simulation.optics.psf",
    "numerical_aperture": "simulation.optics.numerical_aperture",
    "wavelength_um": "atom",
    "peak_counts": "simulation.probe_counts",
    "image_shape": "simulation.image_shape",
    "gain": "simulation.camera_gain",
    "excess_noise_factor": "simulation.camera.excess_noise_factor",
    "noise_model": "simulation.camera.noise_model",
}


def _floats(values) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _float_or_none(value) -> float | None:
    return None if value is None else float(value)


def run_design(simulation: Config):
    """:class:`~atompump.simulate.design.RunDesign` of the ``simulation`` section."""
    from atompump.simulate.design import RunDesign

    return RunDesign(seed=int(simulation["seed"]), cycles=_floats(simulation["cycles"]),
                     directions=tuple(int(d) for d in simulation["directions"]), repeats=int(simulation["repeats"]),
                     references=bool(simulation["references"]), order=str(simulation["order"]))


def planned_shot_count(simulation: Config) -> int:
    """Number of shots a ``simulation`` section's run has (missing keys: the schema's defaults)."""
    with config_keys(SIMULATION_KEYS):
        return run_design(config_section("simulation", simulation)).count()


def dynamics_params(config: Config, *, model: str | None = None):
    """:class:`~atompump.simulate.run.DynamicsParams` of a config (sections ``pump``, ``simulation.pump``,
    ``simulation.tight_binding``, ``lattice``, ``atom``): the simulator's atoms and the theory's prediction are the
    same dynamics, built here for both. ``model``: the theory's (``theory.dynamics``); default
    ``simulation.dynamics``."""
    from atompump.simulate.run import DynamicsParams, Numerics, PumpSequence, TightBinding

    pump, simulation = config["pump"], config["simulation"]
    numerics, tb = simulation["pump"], simulation["tight_binding"]
    with config_keys(DYNAMICS_KEYS if model is None else THEORY_DYNAMICS_KEYS):
        return DynamicsParams(
            model=str(simulation["dynamics"] if model is None else model),
            pump=PumpSequence(
                period_ms=float(pump["period_ms"]), phi0=float(pump["phi0"]), ramp_ms=float(pump["ramp_on_ms"]),
                trap_hz=float(pump["trap_hz"]), trap_offset_um=float(pump["trap_offset_um"]),
                atoms_per_tube=float(pump["atoms_per_tube"]), cloud=str(pump["cloud"]),
                loading=str(pump["loading"]), temperature_nK=float(pump["temperature_nK"]),
                statistics=str(pump["statistics"]), filling=float(pump["filling"]),
                band_populations=_floats(pump["band_populations"])),
            numerics=Numerics(dt=float(numerics["dt"]), substeps=int(numerics["substeps"]),
                              cells=None if numerics["cells"] is None else int(numerics["cells"]),
                              points_per_cell=int(numerics["points_per_cell"])),
            tight_binding=TightBinding(couplings=str(tb["couplings"]), J=float(tb["J"]), dJ=float(tb["dJ"]),
                                       Delta=float(tb["Delta"])),
            lattice=lattice_params(config["lattice"], species(config)),
        )


def simulation_params(config: Config):
    """:class:`~atompump.simulate.run.SimulationParams` of a config (sections ``simulation``, ``pump``,
    ``imaging``, ``lattice``, ``atom``), defaults filled (:func:`atompump.config.fill_defaults`), e.g.
    ``simulation_params(fill_defaults({"simulation": {"repeats": 2}}))``."""
    from atompump.simulate.imaging import Absorption, Camera, Optics, PointSpreadFunction, ProbeSettings
    from atompump.simulate.run import Cloud, Drift, SimulationParams

    simulation, imaging = config["simulation"], config["imaging"]
    optics, probe, camera, drift = simulation["optics"], simulation["probe"], simulation["camera"], simulation["drift"]
    atom = species(config)
    with config_keys(SIMULATION_KEYS):
        return SimulationParams(
            design=run_design(simulation),
            format=str(simulation["format"]),
            dynamics=dynamics_params(config),
            nu_true=float(simulation["nu_true"]),
            cloud=Cloud(atom_number=float(simulation["atom_number"]),
                        atom_number_jitter=float(simulation["atom_number_jitter"]),
                        sigma_um=_floats(simulation["cloud_sigma_um"]),
                        position_jitter_um=float(simulation["position_jitter_um"]),
                        transverse_jitter_um=float(simulation["transverse_jitter_um"])),
            drift=Drift(um_per_shot=float(drift["um_per_shot"]), amplitude_um=float(drift["amplitude_um"]),
                        period_shots=float(drift["period_shots"])),
            pump_axis=str(imaging["pump_axis"]),
            optics=Optics(psf=PointSpreadFunction(str(optics["psf"]), atom.imaging_wavelength_nm * 1e-3,
                                                  float(optics["numerical_aperture"])),
                          pixel_size_um=float(imaging["pixel_size_um"]),
                          camera_pixel_um=float(optics["camera_pixel_um"]),
                          magnification=_float_or_none(optics["magnification"])),
            probe=ProbeSettings(peak_counts=float(simulation["probe_counts"]),
                                waist_um=_float_or_none(probe["waist_um"]),
                                power_jitter=float(probe["power_jitter"]),
                                fringe_amplitude=float(probe["fringe_amplitude"]),
                                fringe_count=int(probe["fringe_count"]),
                                fringe_period_px=_floats(probe["fringe_period_px"]),
                                fringe_phase_jitter_rad=float(probe["fringe_phase_jitter_rad"]),
                                fringe_phase_walk_rad=float(probe["fringe_phase_walk_rad"])),
            absorption=Absorption(cross_section_um2=cross_section_um2(imaging, atom), alpha=float(imaging["alpha"]),
                                  isat_counts=_float_or_none(imaging["isat_counts"])),
            camera=Camera(image_shape=tuple(int(s) for s in simulation["image_shape"]),
                          gain=float(simulation["camera_gain"]),
                          offset_counts=float(simulation["dark_offset_counts"]),
                          read_noise_counts=float(simulation["read_noise_counts"]),
                          excess_noise_factor=float(camera["excess_noise_factor"]),
                          noise_model=str(camera["noise_model"]), full_well_counts=int(camera["full_well_counts"])),
        )


def simulate_stage(out_dir: str | os.PathLike, *, simulation: Config, imaging: Config, lattice: Config,
                   atom: str, pump: Config, workers: int = 1) -> dict:
    """Simulate a run into ``out_dir`` (manifest.csv, frames/, truth.json, dynamics.nc); ``workers`` processes
    simulate the pump directions at once (the rule's threads)."""
    from atompump.simulate.run import simulate_run

    params = simulation_params({"simulation": simulation, "imaging": imaging, "lattice": lattice, "atom": atom,
                                "pump": pump})
    with config_keys(SIMULATION_KEYS):
        return simulate_run(out_dir, params, workers=workers)
