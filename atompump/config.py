"""Configuration: validation against the JSON schema and conversion to library parameters.

The workflow validates its config with :func:`snakemake.utils.validate` (which also fills in defaults); before
that, :func:`config_errors` collects *every* problem with a message that names the key and the allowed values,
so a bad config stops the run before any job starts with an actionable message.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from atompump.constants import SPECIES, resonant_cross_section_um2
from atompump.errors import PARAMETER_NAMES, ConfigError, InputDataError, ParameterError

__all__ = [
    "DATA_KEYS",
    "SCHEMA_PATH",
    "check_config",
    "complete_config",
    "config_errors",
    "config_keys",
    "naming_config_keys",
    "config_section",
    "default_schema",
    "generated_reference",
    "cross_section_um2",
    "fill_defaults",
    "lattice_params",
    "load_schema",
    "planned_cycles",
    "planned_shot_count",
    "schema_reference_markdown",
    "species",
    "update_reference",
]


def load_schema(path: str | os.PathLike) -> dict:
    """Load a YAML/JSON schema file."""
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(error) -> str:
    key = _key(error.absolute_path)
    schema = error.schema
    value = error.instance
    if error.validator == "enum":
        return f"config key '{key}': {value!r} is not allowed; allowed values: {schema['enum']}"
    if error.validator == "type":
        return f"config key '{key}': {value!r} has the wrong type; expected {schema['type']}"
    if error.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        bounds = {k: schema[k] for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum") if k in schema}
        return f"config key '{key}': {value!r} is out of range; allowed: {bounds}"
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        return f"config section '{key}': {error.message}; allowed keys: {allowed}"
    if error.validator == "required":
        return f"config section '{key}': {error.message}"
    return f"config key '{key}': {error.message}"


def config_errors(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """All schema violations of ``config``, one readable line each (empty list: valid).

    A non-finite number (YAML ``.nan``, ``.inf``, ``-.inf``) is refused wherever it stands: JSON Schema's range
    checks let NaN through (every comparison with NaN is false), and no key of the config means anything by it.
    """
    import jsonschema

    non_finite = _non_finite_values(config)
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    lines = [f"config key '{key}': {text} is not a finite number; give a number (YAML .nan and .inf are never valid)"
             for key, text in sorted(non_finite.items())]
    for error in errors:
        if _key(error.absolute_path) in non_finite:
            continue  # already named above (an .inf beyond a bound would be named twice)
        # report the most specific failure of anyOf/oneOf branches
        if error.context:
            best = min(error.context, key=lambda e: len(e.message))
            best_path = list(error.absolute_path) + list(best.relative_path)
            allowed = [c.get("enum") or c.get("type") for c in error.schema.get("anyOf", error.schema.get("oneOf", []))]
            lines.append(f"config key '{_key(best_path)}': {error.instance!r} is not valid; allowed: {allowed}")
        else:
            lines.append(_describe(error))
    return lines


def _non_finite_values(value: Any, path: tuple = ()) -> dict[str, str]:
    """Key -> YAML spelling (``.nan``, ``.inf``, ``-.inf``) of every non-finite float in ``value``, nested
    mappings and lists included (a list item is named ``key.<index>``)."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return {_key(path): ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")}
    items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    found: dict[str, str] = {}
    for name, item in items:
        found.update(_non_finite_values(item, (*path, name)))
    return found


MOVED_KEYS = {
    ("simulation", "pump", "period_ms"): "pump.period_ms",
    ("simulation", "pump", "phi0"): "pump.phi0",
    ("simulation", "pump", "trap_hz"): "pump.trap_hz",
    ("simulation", "pump", "trap_offset_um"): "pump.trap_offset_um",
    ("simulation", "initial"): "pump (atoms_per_tube, cloud, temperature_nK, band_populations)",
    ("theory", "cycle_period_ms"): "pump.period_ms",
    ("theory", "band_populations"): "pump.band_populations (with pump.loading: populations)",
    ("theory", "temperature_nK"): "pump.temperature_nK (with pump.loading: long_lattice or pump_start)",
    ("theory", "statistics"): "pump.statistics",
    ("theory", "filling"): "pump.filling",
}
"""Keys of earlier versions and where they live now: the pump sequence is one section for simulator and theory."""


def _split_moved_keys(config: Mapping[str, Any]) -> tuple[list[str], dict]:
    """The moved keys of ``config`` named with their new place, and a copy of ``config`` without them (so the
    schema reports only the other problems)."""
    import copy

    problems, rest = [], copy.deepcopy(dict(config))
    for path, new in MOVED_KEYS.items():
        section = rest
        for part in path[:-1]:
            section = section.get(part) if isinstance(section, Mapping) else None
        if isinstance(section, dict) and path[-1] in section:
            del section[path[-1]]
            problems.append(f"config key '{'.'.join(path)}' has moved to {new}: the simulator and the theory "
                            "share the section 'pump'")
    return problems, rest


def check_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` listing every problem of ``config``; also cross-key checks."""
    problems, rest = _split_moved_keys(config)
    problems += config_errors(rest, schema)
    data = config.get("data", {}) or {}
    if not problems and data.get("source") in ("measured", "injected"):
        problems += _measured_source_problems(data, source=str(data["source"]))
    if not problems and data.get("source") == "injected":
        from atompump.stages.inject import injection_problems

        problems += injection_problems(fill_defaults(config, schema)["injection"])
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def _measured_source_problems(data: Mapping[str, Any], *, source: str = "measured") -> list[str]:
    """A measured run (or the lab's run of an injection) needs exactly one of data.manifest (an existing CSV) and
    data.shots (a glob that matches)."""
    manifest, shots = data.get("manifest"), data.get("shots")
    if manifest and shots:
        return ["config keys 'data.manifest' and 'data.shots': give one of them, not both (a manifest CSV, or a glob "
                "of labscript HDF5 shot files)"]
    if not manifest and not shots:
        return [f"config key 'data.manifest': required when data.source is '{source}' (path to manifest.csv), "
                "unless data.shots gives a glob of labscript HDF5 shot files"]
    where = f"relative paths are taken from the working directory {os.getcwd()}"
    if manifest and not Path(str(manifest)).is_file():
        return [f"config key 'data.manifest': {str(manifest)!r} does not exist ({where})"]
    if shots:
        from atompump.io.labscript import find_labscript_shots

        if not find_labscript_shots(str(shots)):
            return [f"config key 'data.shots': no file matches {str(shots)!r} ({where})"]
    return []


def fill_defaults(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict:
    """A copy of ``config`` with every missing key set to its schema default, section by section (what the
    workflow's ``validate(config, schema, set_default=True)`` does; for the command line, notebooks and
    :func:`atompump.stages.run_analysis`, without Snakemake). ``schema`` defaults to the package's
    (:func:`default_schema`): the schema is the one place defaults live."""
    import copy

    if schema is None:
        schema = default_schema()

    def fill(value: Any, spec: Mapping[str, Any]) -> Any:
        if spec.get("type") != "object" or "properties" not in spec or not isinstance(value, Mapping):
            return value
        out = dict(value)
        for key, sub in spec["properties"].items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = fill(out[key], sub)
        return out

    return fill(copy.deepcopy(dict(config)), schema)


@contextmanager
def config_keys(keys: Mapping[str, str]) -> Iterator[None]:
    """The configuration boundary's translation of library errors: a :class:`~atompump.errors.ParameterError`
    raised inside is raised again as :class:`~atompump.errors.ConfigError` naming config keys.

    ``keys`` maps the library's parameter names to the config keys they come from (``{"cells":
    "simulation.pump.cells"}``); a parameter not in ``keys`` keeps its own name. The config error's message starts
    with the key of the parameter to change (the error's first parameter). A data problem
    (:class:`~atompump.errors.InputDataError` with ``parameters``: a shot's file) is not the config's fault: it
    stays what it is, but names the config keys, both when its text is written down inside (a shot's reject
    reason) and when it leaves (:data:`atompump.errors.PARAMETER_NAMES`).

    Examples
    --------
    >>> with config_keys({"cells": "simulation.pump.cells"}):
    ...     raise ParameterError("the cloud reaches the grid's edge: raise {cells}", parameters=("cells",))
    Traceback (most recent call last):
    ...
    atompump.errors.ConfigError: config key 'simulation.pump.cells': the cloud reaches the grid's edge: raise simulation.pump.cells
    """
    token = PARAMETER_NAMES.set({**PARAMETER_NAMES.get(), **keys})
    try:
        yield
    except ParameterError as exc:
        named = [p for p in exc.parameters if p in keys]
        if not named:
            raise
        raise ConfigError(f"config key '{keys[named[0]]}': {exc.render(dict(keys))}") from exc
    except InputDataError as exc:  # a data problem naming what to change: it names the config keys from now on
        exc.names = {**keys, **exc.names}
        raise
    finally:
        PARAMETER_NAMES.reset(token)


def naming_config_keys(keys: Mapping[str, str]) -> Callable[[Callable], Callable]:
    """Decorator: the function runs inside :func:`config_keys` ``(keys)`` (a stage whose library calls name
    parameters the config sets, e.g. :data:`DATA_KEYS` for the stages that read the shots' files)."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def named(*args: Any, **kwargs: Any) -> Any:
            with config_keys(keys):
                return func(*args, **kwargs)

        return named

    return decorate


def species(config: Mapping[str, Any]):
    """The :class:`~atompump.constants.Species` named by ``config['atom']`` (absent: the schema's default)."""
    name = config["atom"] if "atom" in config else default_schema()["properties"]["atom"]["default"]
    try:
        return SPECIES[name]
    except KeyError:
        raise ConfigError(f"config key 'atom': {name!r} is not known; allowed values: {sorted(SPECIES)}") from None


def cross_section_um2(imaging: Mapping[str, Any], atom) -> float:
    """Absorption cross-section in um^2: ``imaging.cross_section_um2`` or 3 lambda^2 / (2 pi) of the species."""
    value = imaging.get("cross_section_um2")
    return float(value) if value is not None else resonant_cross_section_um2(atom.imaging_wavelength_nm)


def lattice_params(lattice: Mapping[str, Any], atom):
    """:class:`~atompump.theory.SuperlatticeParams` from the ``lattice`` config section."""
    from atompump.theory.superlattice import SuperlatticeParams

    return SuperlatticeParams(
        Vs_Er=float(lattice["Vs_Er"]),
        Vl_Er=float(lattice["Vl_Er"]),
        lambda_l_nm=float(lattice["lambda_l_nm"]),
        mass_amu=atom.mass_amu,
    )


def planned_shot_count(config: Mapping[str, Any]) -> int:
    """Number of shots the run will have: from the simulation design, the measured run's manifest, or the number
    of labscript shot files matching ``data.shots`` (no image is opened).

    Used to plan the per-batch jobs before any job runs. Missing keys are the schema's defaults.
    """
    config = fill_defaults(config)
    data = config["data"]
    if data["source"] == "simulated":
        from atompump.stages.simulate import planned_shot_count as simulated_count

        return simulated_count(config["simulation"])
    if data["source"] == "injected":
        from atompump.stages.inject import planned_shot_count as injected_count

        return injected_count(config["injection"])
    from atompump.io.shots import count_run_shots  # names the data section's keys itself

    return count_run_shots(data)


#: The config key of each parameter that :mod:`atompump.io` names in its errors (the ``data`` section's keys;
#: ``pattern`` is :mod:`atompump.io.labscript`'s name for the glob ``data.shots``, ``wait_s`` the file wait).
DATA_KEYS = {"manifest": "data.manifest", "shots": "data.shots", "pattern": "data.shots", "frames": "data.frames",
             "orientation": "data.frames.orientation", "label": "data.frames.label", "od": "data.frames.od",
             "wait_s": "data.file_wait_s"}


def planned_cycles(config: Mapping[str, Any]) -> list[float] | None:
    """The pump cycles the run's shots are taken at, when the config or the manifest tells before any job runs.

    Simulated and injected runs: their design's ``cycles``; a measured run with a manifest: its ``cycle`` column;
    labscript shot files (globals not read here): None. Missing keys are the schema's defaults.
    """
    config = fill_defaults(config)
    data = config["data"]
    source = data["source"]
    if source in ("simulated", "injected"):
        return sorted({float(c) for c in config["simulation" if source == "simulated" else "injection"]["cycles"]})
    if data["manifest"]:
        from atompump.io.manifest import scan_manifest

        try:
            return sorted({float(r.cycle) for r in scan_manifest(Path(str(data["manifest"])))})
        except InputDataError:
            return None  # the 'shots' rule reports the manifest's problem
    return None


_KEYS_START = "<!-- config keys: generated from workflow/schemas/config.schema.yaml by `atompump config-reference` -->"
_KEYS_END = "<!-- end of config keys -->"


def _allowed(spec: Mapping[str, Any]) -> str:
    parts = []
    if "enum" in spec:
        parts.append("one of " + ", ".join(f"`{v}`" for v in spec["enum"]))
    for key, symbol in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in spec:
            parts.append(f"{symbol} {spec[key]}")
    if spec.get("type") == "array":
        if "minItems" in spec and spec.get("maxItems") == spec["minItems"]:
            parts.append(f"exactly {spec['minItems']} items")
        elif "minItems" in spec:
            parts.append(f"at least {spec['minItems']} items")
        items = _allowed(spec.get("items", {}))
        if items:
            parts.append("items " + items)
    return "; ".join(parts)


def _type(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type", "")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"list of {spec.get('items', {}).get('type', 'any')}"
    if kind == "object" and "properties" not in spec:
        return "mapping"
    return str(kind)


def _default(spec: Mapping[str, Any]) -> str:
    text = yaml.safe_dump(spec.get("default"), default_flow_style=True).strip()
    return text.removesuffix("...").strip()


def _rows(prefix: str, properties: Mapping[str, Any]) -> list[str]:
    rows = []
    for key, spec in properties.items():
        name = f"{prefix}.{key}" if prefix else key
        if spec.get("type") == "object" and "properties" in spec:
            rows.append(f"| `{name}` | mapping |  | `{_default(spec)}` | {spec['description']} (keys below) |")
            rows += _rows(name, spec["properties"])
        else:
            rows.append(f"| `{name}` | {_type(spec)} | {_allowed(spec)} | `{_default(spec)}` | {spec['description']} |")
    return rows


def schema_reference_markdown(schema: Mapping[str, Any]) -> str:
    """Markdown tables of every config key (type, allowed values, default, meaning), one per section."""
    header = "| key | type | allowed | default | meaning |\n|---|---|---|---|---|"
    out = [_KEYS_START, ""]
    top = {k: v for k, v in schema["properties"].items() if "properties" not in v}
    if top:
        out += ["### top level", "", header, *_rows("", top), ""]
    for section, spec in schema["properties"].items():
        if "properties" in spec:
            out += [f"### `{section}`", ""]
            if spec.get("description"):
                out += [spec["description"], ""]
            out += [header, *_rows(section, spec["properties"]), ""]
    out.append(_KEYS_END)
    return "\n".join(out) + "\n"


def update_reference(readme: str | os.PathLike, schema: Mapping[str, Any]) -> bool:
    """Rewrite the generated key tables of ``readme`` (between the markers); True when the file changed."""
    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    if _KEYS_START not in text or _KEYS_END not in text:
        raise ConfigError(f"{path} lacks the markers of the generated key tables")
    start = text.index(_KEYS_START)
    end = text.index(_KEYS_END) + len(_KEYS_END) + 1
    new = text[:start] + schema_reference_markdown(schema) + text[end:]
    if new != text:
        from atompump.io.atomic import write_text

        write_text(path, new)  # atomic: a full disk leaves the old file whole
        return True
    return False


def generated_reference(readme: str | os.PathLike) -> str:
    """The generated part of ``readme`` (between the markers, inclusive)."""
    text = Path(readme).read_text(encoding="utf-8")
    start = text.index(_KEYS_START)
    end = text.index(_KEYS_END) + len(_KEYS_END) + 1
    return text[start:end]


# --- the one boundary where a config becomes complete (issue 15, item 1) ---------------------------------------------

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def default_schema() -> dict:
    """The package's config schema (``workflow/schemas/config.schema.yaml``), read once per process."""
    global _SCHEMA_CACHE
    if _SCHEMA_CACHE is None:
        _SCHEMA_CACHE = load_schema(SCHEMA_PATH)
    return _SCHEMA_CACHE


_SCHEMA_CACHE: dict | None = None


def complete_config(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict:
    """A partial config checked (:func:`check_config`: every problem at once, naming the keys) and completed with
    the schema's defaults (:func:`fill_defaults`): what the workflow's Snakefile does before any job, for
    notebooks and :func:`atompump.stages.run_analysis`.

    Raises
    ------
    ConfigError
        The config does not follow the schema.
    """
    schema = default_schema() if schema is None else schema
    check_config(config, schema)
    return fill_defaults(config, schema)


def config_section(name: str, values: Mapping[str, Any] | None = None) -> dict:
    """One config section (``fit``, ``com``, ...) with the keys it lacks set to the schema's defaults, e.g.
    ``config_section("fit", {"n_bootstrap": 0})`` for a stage function called on its own."""
    return fill_defaults({name: dict(values or {})})[name]
