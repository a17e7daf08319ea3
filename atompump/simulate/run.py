"""Simulated runs in the lab's format: a manifest, single-frame TIFFs and ``truth.json``.

The skeleton's atom model: the cloud is a Gaussian whose centre moves by ``nu_true * dl`` per pump cycle in the
pump direction, plus Gaussian shot-to-shot position jitter; the atom number fluctuates from shot to shot.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from atompump.io.atomic import write_json
from atompump.io.frames import write_tiff_frame
from atompump.io.manifest import write_manifest
from atompump.simulate.imaging import camera_counts, gaussian_column_density, transmitted_intensity

__all__ = ["SimulationParams", "design_run", "planned_shot_count", "simulate_run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationParams:
    """Parameters of a simulated run (see ``config/README.md`` for each key).

    Lengths in um, intensities in camera counts per pixel per exposure.
    """

    seed: int = 2016
    cycles: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0)
    directions: tuple[int, ...] = (1, -1)
    repeats: int = 10
    nu_true: float = 1.0
    dl_um: float = 0.767
    atom_number: float = 3000.0
    atom_number_jitter: float = 0.05
    cloud_sigma_um: tuple[float, float] = (6.0, 6.0)
    centre_um: tuple[float, float] | None = None
    position_jitter_um: float = 0.3
    image_shape: tuple[int, int] = (64, 128)
    pixel_size_um: float = 1.0
    pump_axis: str = "x"
    probe_counts: float = 3000.0
    camera_gain: float = 1.0
    dark_offset_counts: float = 100.0
    read_noise_counts: float = 4.0
    cross_section_um2: float = 0.2907
    alpha: float = 1.0
    isat_counts: float | None = None
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


def planned_shot_count(simulation: dict) -> int:
    """Number of shots :func:`design_run` makes for a ``simulation`` config section (defaults as in
    :class:`SimulationParams`)."""
    defaults = SimulationParams()
    cycles = simulation.get("cycles", defaults.cycles)
    directions = simulation.get("directions", defaults.directions)
    repeats = simulation.get("repeats", defaults.repeats)
    return len(cycles) * len(directions) * int(repeats)


def design_run(params: SimulationParams) -> list[dict[str, object]]:
    """The acquisition sequence: every (cycle, direction) pair ``repeats`` times, interleaved repeat by repeat.

    Returns a list of dicts with ``shot``, ``cycle``, ``direction``, ``repeat`` in acquisition order.
    """
    shots = []
    for repeat in range(params.repeats):
        for cycle in params.cycles:
            for direction in params.directions:
                shots.append({"shot": f"s{len(shots):05d}", "cycle": float(cycle), "direction": int(direction),
                              "repeat": repeat})
    return shots


def simulate_run(out_dir: str | os.PathLike, params: SimulationParams) -> dict:
    """Simulate a run and write it to ``out_dir`` as ``manifest.csv``, ``frames/*.tif`` and ``truth.json``.

    Returns the truth dictionary (also written to ``truth.json``).
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(params.seed)
    ny, nx = params.image_shape
    along = nx if params.pump_axis == "x" else ny
    across = ny if params.pump_axis == "x" else nx
    if params.centre_um is None:
        centre_along = 0.5 * (along - 1) * params.pixel_size_um
        centre_across = 0.5 * (across - 1) * params.pixel_size_um
    else:
        centre_along, centre_across = params.centre_um
    design = design_run(params)
    rows, truth_shots = [], []
    for entry in design:
        shot = str(entry["shot"])
        displacement = entry["direction"] * params.nu_true * params.dl_um * entry["cycle"]
        x_true = centre_along + displacement + rng.normal(0.0, params.position_jitter_um)
        n_atoms = params.atom_number * (1.0 + params.atom_number_jitter * rng.normal())
        n_atoms = max(n_atoms, 0.0)
        sig_along, sig_across = params.cloud_sigma_um
        if params.pump_axis == "x":
            density = gaussian_column_density((ny, nx), atom_number=n_atoms, centre_um=(x_true, centre_across),
                                              sigma_um=(sig_along, sig_across), pixel_size_um=params.pixel_size_um)
        else:
            density = gaussian_column_density((ny, nx), atom_number=n_atoms, centre_um=(centre_across, x_true),
                                              sigma_um=(sig_across, sig_along), pixel_size_um=params.pixel_size_um)
        od = params.cross_section_um2 * density
        i_in = np.full((ny, nx), params.probe_counts)
        i_out = transmitted_intensity(i_in, od, alpha=params.alpha, isat_counts=params.isat_counts)
        cam = dict(rng=rng, gain=params.camera_gain, offset_counts=params.dark_offset_counts,
                   read_noise_counts=params.read_noise_counts)
        frames = {"atoms": camera_counts(i_out, **cam), "probe": camera_counts(i_in, **cam),
                  "dark": camera_counts(np.zeros((ny, nx)), **cam)}
        row = {"shot": shot}
        for name, frame in frames.items():
            rel = f"frames/{shot}_{name}.tif"
            write_tiff_frame(out_dir / rel, frame)
            row[name] = rel
        row.update(cycle=entry["cycle"], direction=entry["direction"], repeat=entry["repeat"])
        rows.append(row)
        truth_shots.append({"shot": shot, "x_true_um": x_true, "atom_number": n_atoms, "cycle": entry["cycle"],
                            "direction": entry["direction"]})
    write_manifest(out_dir / "manifest.csv", rows)
    truth = {
        "nu_true": params.nu_true,
        "dl_um": params.dl_um,
        "displacement_per_cycle_um": params.nu_true * params.dl_um,
        "params": asdict(params),
        "shots": truth_shots,
    }
    write_json(out_dir / "truth.json", truth)
    log.info("simulated %d shots into %s", len(rows), out_dir)
    return truth
