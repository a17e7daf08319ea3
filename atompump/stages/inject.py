"""Stage inject: a known cloud injected into the frames of a lab's own run (``data.source: injected``).

Rule (``workflow/rules/inject.smk``)::

    inject   data.manifest / data.shots (the lab's run)  ->  results/injected/{manifest.csv, truth.json, frames/}

Everything downstream runs as for a simulated run; ``recovery`` (:mod:`atompump.stages.recovery`) then compares
the analysis with ``truth.json``. The command ``atompump inject`` calls :func:`inject_stage` too.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from atompump.config import DATA_KEYS, config_keys, config_section, cross_section_um2, fill_defaults, species
from atompump.errors import ConfigError

__all__ = ["INJECTION_KEYS", "cloud_from_config", "inject_stage", "injection_params", "injection_params_from_config",
           "injection_problems", "planned_shot_count"]

Config = Mapping[str, Any]

#: The config key of each parameter that :mod:`atompump.inject` names in its errors.
INJECTION_KEYS = {
    "sigma_um": "injection.cloud.sigma_um", "radius_um": "injection.cloud.radius_um", "cloud": "injection.cloud",
    "frames": "injection.frames", "region": "injection.region", "order": "injection.order",
    "pump_axis": "imaging.pump_axis", "centre_um": "injection.centre_um", "allow_reuse": "injection.allow_reuse",
    "cycles": "injection.cycles", "directions": "injection.directions", "repeats": "injection.repeats",
}


def injection_problems(injection: Config) -> list[str]:
    """Cross-key problems of the ``injection`` section that the schema cannot express (empty: none)."""
    problems = []
    cloud = injection.get("cloud") or {}
    if cloud.get("shape") == "od_image":
        for key in ("image", "image_pixel_size_um"):
            if cloud.get(key) in (None, ""):
                problems.append(f"config key 'injection.cloud.{key}': required when injection.cloud.shape is "
                                "od_image")
    if cloud.get("shape") in ("gaussian", "thomas_fermi") and cloud.get("peak_od") is None:
        problems.append(f"config key 'injection.cloud.peak_od': required for a {cloud['shape']} cloud (null keeps an "
                        "od_image's own OD)")
    if injection.get("frames") == "blank" and injection.get("region") is None:
        problems.append("config key 'injection.region': required when injection.frames is blank (the atom-free part "
                        "of every source frame, [row_start, row_stop, col_start, col_stop])")
    return problems


def planned_shot_count(injection: Config) -> int:
    """Number of shots of the injected run of an ``injection`` section (missing keys: the schema's defaults)."""
    from atompump.simulate.design import shot_count

    injection = config_section("injection", injection)
    return shot_count(cycles=injection["cycles"], directions=injection["directions"],
                      repeats=int(injection["repeats"]), references=bool(injection["references"]))


def cloud_from_config(cloud: Config):
    """The cloud of the ``injection.cloud`` section (an od_image is read and cleaned here)."""
    from atompump.inject import GaussianCloud, ThomasFermiCloud, load_od_image_cloud
    from atompump.io.formats import open_image

    shape = str(cloud["shape"])
    peak = None if cloud["peak_od"] is None else float(cloud["peak_od"])
    blur = float(cloud["blur_um"])
    if shape == "gaussian":
        return GaussianCloud(sigma_um=tuple(float(s) for s in cloud["sigma_um"]), peak_od=peak, blur_um=blur)
    if shape == "thomas_fermi":
        return ThomasFermiCloud(radius_um=tuple(float(r) for r in cloud["radius_um"]), peak_od=peak, blur_um=blur)
    if shape == "od_image":
        path = str(cloud["image"])
        key = cloud["image_key"]
        with open_image(path) as image:
            od = image.read(key)
        return load_od_image_cloud(od, pixel_size_um=float(cloud["image_pixel_size_um"]),
                                   threshold=float(cloud["threshold"]), taper_um=float(cloud["taper_um"]),
                                   peak_od=peak, transpose=bool(cloud["transpose"]), blur_um=blur,
                                   source=f"{path} [{key}]" if key is not None else path)
    raise ConfigError(f"config key 'injection.cloud.shape': {shape!r} is not allowed; allowed values: "
                      "['gaussian', 'thomas_fermi', 'od_image']")


def injection_params_from_config(config: Config, **replace):
    """:class:`~atompump.inject.InjectionParams` of a partial config (notebooks, tests, benchmarks): the missing
    keys are the schema's defaults (:func:`atompump.config.fill_defaults`). ``replace`` sets fields directly
    (e.g. ``cloud=`` a cloud object, ``gain=`` a measured gain), checked by the class (its errors name the
    fields)."""
    config = fill_defaults(config)
    params = injection_params(injection=config["injection"], imaging=config["imaging"], lattice=config["lattice"],
                              atom=config["atom"])
    return dataclasses.replace(params, **replace) if replace else params  # fields: errors name the fields


def injection_params(*, injection: Config, imaging: Config, lattice: Config, atom: str):
    """:class:`~atompump.inject.InjectionParams` from the validated config sections (defaults filled)."""
    from atompump.inject import InjectionParams

    problems = injection_problems(injection)
    if problems:
        raise ConfigError("; ".join(problems))
    camera = injection["camera"]
    region = injection["region"]
    centre = injection["centre_um"]
    with config_keys(INJECTION_KEYS):
        return InjectionParams(
            cloud=cloud_from_config(injection["cloud"]),
            pixel_size_um=float(imaging["pixel_size_um"]),
            nu=float(injection["nu"]),
            dl_um=float(lattice["lambda_l_nm"]) / 2.0 * 1e-3,
            cycles=tuple(float(c) for c in injection["cycles"]),
            directions=tuple(int(d) for d in injection["directions"]),
            repeats=int(injection["repeats"]),
            references=bool(injection["references"]),
            order=str(injection["order"]),
            seed=int(injection["seed"]),
            position_jitter_um=float(injection["position_jitter_um"]),
            transverse_jitter_um=float(injection["transverse_jitter_um"]),
            centre_um=None if centre is None else tuple(float(c) for c in centre),
            pump_axis=str(imaging["pump_axis"]),
            alpha=float(imaging["alpha"]),
            isat_counts=None if imaging["isat_counts"] is None else float(imaging["isat_counts"]),
            cross_section_um2=cross_section_um2(imaging, species({"atom": atom})),
            frames=str(injection["frames"]),
            region=None if region is None else tuple(int(v) for v in region),
            allow_reuse=bool(injection["allow_reuse"]),
            gain=None if camera["gain"] is None else float(camera["gain"]),
            read_noise_counts=None if camera["read_noise_counts"] is None else float(camera["read_noise_counts"]),
            noise_pairs=int(camera["noise_pairs"]),
            max_dark_frames=int(injection["max_dark_frames"]),
            full_well_counts=int(camera["full_well_counts"]),
        )


def inject_stage(out_dir: str | os.PathLike, *, data: Config, injection: Config, imaging: Config, lattice: Config,
                 atom: str) -> dict:
    """Inject the configured cloud into the lab's run of ``data`` and write the run to ``out_dir``
    (``manifest.csv``, ``frames/``, ``truth.json``; :func:`atompump.inject.inject_run`). Returns the truth."""
    from atompump.inject import inject_run

    params = injection_params(injection=injection, imaging=imaging, lattice=lattice, atom=atom)
    with config_keys({**DATA_KEYS, **INJECTION_KEYS}):
        return inject_run(out_dir, data=data, params=params)
