"""Stage simulate: a simulated run written in the lab's format."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from atompump.config import cross_section_um2, species

__all__ = ['simulate_stage']

Config = Mapping[str, Any]

def simulate_stage(out_dir: str | os.PathLike, *, simulation: Config, imaging: Config, lattice: Config,
                   atom: str) -> dict:
    """Simulate a run into ``out_dir`` (manifest.csv, frames/, truth.json)."""
    from atompump.simulate.run import SimulationParams, simulate_run

    sp = species({"atom": atom})
    params = SimulationParams(
        seed=int(simulation["seed"]),
        cycles=tuple(float(c) for c in simulation["cycles"]),
        directions=tuple(int(d) for d in simulation["directions"]),
        repeats=int(simulation["repeats"]),
        nu_true=float(simulation["nu_true"]),
        dl_um=float(lattice["lambda_l_nm"]) / 2.0 * 1e-3,
        atom_number=float(simulation["atom_number"]),
        atom_number_jitter=float(simulation["atom_number_jitter"]),
        cloud_sigma_um=tuple(float(s) for s in simulation["cloud_sigma_um"]),
        position_jitter_um=float(simulation["position_jitter_um"]),
        image_shape=tuple(int(s) for s in simulation["image_shape"]),
        pixel_size_um=float(imaging["pixel_size_um"]),
        pump_axis=str(imaging["pump_axis"]),
        probe_counts=float(simulation["probe_counts"]),
        camera_gain=float(simulation["camera_gain"]),
        dark_offset_counts=float(simulation["dark_offset_counts"]),
        read_noise_counts=float(simulation["read_noise_counts"]),
        cross_section_um2=cross_section_um2(imaging, sp),
        alpha=float(imaging["alpha"]),
        isat_counts=None if imaging.get("isat_counts") is None else float(imaging["isat_counts"]),
    )

    return simulate_run(out_dir, params)
