"""Stage simulate: a simulated run written in the lab's format."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from atompump.config import cross_section_um2, species

__all__ = ['dynamics_params', 'simulation_params', 'simulate_stage']

Config = Mapping[str, Any]


def _tuple_or_none(value):
    return None if value is None else tuple(float(v) for v in value)


def dynamics_params(*, model: str, numerics: Config, tight_binding: Config, pump: Config, lattice: Config,
                    atom: str):
    """:class:`~atompump.simulate.run.DynamicsParams` of the configured pump sequence (``pump``), lattice and
    numerics (``simulation.pump``, ``simulation.tight_binding``): the simulator's atoms and the theory's
    prediction are the same dynamics."""
    from atompump.simulate.run import DynamicsParams

    return DynamicsParams(
        model=str(model),
        period_ms=float(pump["period_ms"]),
        dt=float(numerics["dt"]),
        substeps=int(numerics["substeps"]),
        phi0=float(pump["phi0"]),
        ramp_ms=float(pump["ramp_on_ms"]),
        trap_hz=float(pump["trap_hz"]),
        trap_offset_um=float(pump["trap_offset_um"]),
        cells=None if numerics["cells"] is None else int(numerics["cells"]),
        points_per_cell=int(numerics["points_per_cell"]),
        loading=str(pump["loading"]),
        band_populations=tuple(float(p) for p in pump["band_populations"]),
        statistics=str(pump["statistics"]),
        filling=float(pump["filling"]),
        atoms_per_tube=float(pump["atoms_per_tube"]),
        cloud=str(pump["cloud"]),
        temperature_nK=float(pump["temperature_nK"]),
        couplings=str(tight_binding["couplings"]),
        tb_J=float(tight_binding["J"]),
        tb_dJ=float(tight_binding["dJ"]),
        tb_Delta=float(tight_binding["Delta"]),
        Vs_Er=float(lattice["Vs_Er"]),
        Vl_Er=float(lattice["Vl_Er"]),
        lambda_l_nm=float(lattice["lambda_l_nm"]),
        mass_amu=species({"atom": atom}).mass_amu,
    )


def simulation_params(*, simulation: Config, imaging: Config, lattice: Config, atom: str, pump: Config):
    """:class:`~atompump.simulate.run.SimulationParams` from the validated config sections (defaults filled).

    ``pump`` is the pump sequence (period, start phase, loading, temperature, trap, cloud) shared with the theory
    stage."""
    from atompump.simulate.run import SimulationParams

    sp = species({"atom": atom})
    optics, probe, camera, drift = simulation["optics"], simulation["probe"], simulation["camera"], simulation["drift"]
    dynamics = dynamics_params(model=simulation["dynamics"], numerics=simulation["pump"],
                               tight_binding=simulation["tight_binding"], pump=pump, lattice=lattice, atom=atom)
    return SimulationParams(
        seed=int(simulation["seed"]),
        cycles=tuple(float(c) for c in simulation["cycles"]),
        directions=tuple(int(d) for d in simulation["directions"]),
        repeats=int(simulation["repeats"]),
        references=bool(simulation["references"]),
        order=str(simulation["order"]),
        nu_true=float(simulation["nu_true"]),
        dl_um=float(lattice["lambda_l_nm"]) / 2.0 * 1e-3,
        dynamics=dynamics,
        atom_number=float(simulation["atom_number"]),
        atom_number_jitter=float(simulation["atom_number_jitter"]),
        cloud_sigma_um=tuple(float(s) for s in simulation["cloud_sigma_um"]),
        position_jitter_um=float(simulation["position_jitter_um"]),
        transverse_jitter_um=float(simulation["transverse_jitter_um"]),
        drift_um_per_shot=float(drift["um_per_shot"]),
        drift_amplitude_um=float(drift["amplitude_um"]),
        drift_period_shots=float(drift["period_shots"]),
        image_shape=tuple(int(s) for s in simulation["image_shape"]),
        pixel_size_um=float(imaging["pixel_size_um"]),
        magnification=None if optics["magnification"] is None else float(optics["magnification"]),
        camera_pixel_um=float(optics["camera_pixel_um"]),
        pump_axis=str(imaging["pump_axis"]),
        psf=str(optics["psf"]),
        numerical_aperture=float(optics["numerical_aperture"]),
        imaging_wavelength_um=sp.imaging_wavelength_nm * 1e-3,
        probe_counts=float(simulation["probe_counts"]),
        probe_waist_um=None if probe["waist_um"] is None else float(probe["waist_um"]),
        probe_power_jitter=float(probe["power_jitter"]),
        fringe_amplitude=float(probe["fringe_amplitude"]),
        fringe_count=int(probe["fringe_count"]),
        fringe_period_px=tuple(float(p) for p in probe["fringe_period_px"]),
        fringe_phase_jitter_rad=float(probe["fringe_phase_jitter_rad"]),
        fringe_phase_walk_rad=float(probe["fringe_phase_walk_rad"]),
        camera_gain=float(simulation["camera_gain"]),
        dark_offset_counts=float(simulation["dark_offset_counts"]),
        read_noise_counts=float(simulation["read_noise_counts"]),
        excess_noise_factor=float(camera["excess_noise_factor"]),
        noise_model=str(camera["noise_model"]),
        full_well_counts=int(camera["full_well_counts"]),
        cross_section_um2=cross_section_um2(imaging, sp),
        alpha=float(imaging["alpha"]),
        isat_counts=None if imaging["isat_counts"] is None else float(imaging["isat_counts"]),
        format=str(simulation["format"]),
    )


def simulate_stage(out_dir: str | os.PathLike, *, simulation: Config, imaging: Config, lattice: Config,
                   atom: str, pump: Config, workers: int = 1) -> dict:
    """Simulate a run into ``out_dir`` (manifest.csv, frames/, truth.json, dynamics.nc); ``workers`` processes
    simulate the pump directions at once (the rule's threads)."""
    from atompump.simulate.run import simulate_run

    params = simulation_params(simulation=simulation, imaging=imaging, lattice=lattice, atom=atom, pump=pump)
    return simulate_run(out_dir, params, workers=workers)
