"""Config validation: every problem named with its key and allowed values; the default config is valid."""

import copy

import pytest
import yaml

from atompump.config import (
    check_config,
    config_errors,
    generated_reference,
    load_schema,
    planned_shot_count,
    schema_reference_markdown,
)
from atompump.errors import ConfigError


@pytest.fixture(scope="module")
def schema(repo_root):
    return load_schema(repo_root / "workflow" / "schemas" / "config.schema.yaml")


@pytest.fixture(scope="module")
def default_config(repo_root):
    return yaml.safe_load((repo_root / "config" / "config.yaml").read_text())


def test_default_config_is_valid_and_complete(schema, default_config):
    assert config_errors(default_config, schema) == []
    # every key of the schema appears, commented, in config.yaml and in config/README.md
    for section, spec in schema["properties"].items():
        assert section in default_config
        for key in spec.get("properties", {}):
            assert key in default_config[section], f"{section}.{key} missing from config/config.yaml"


def test_every_schema_key_is_described_with_a_default(schema):
    for section, spec in schema["properties"].items():
        keys = spec.get("properties", {section: spec})
        for key, sub in keys.items():
            assert sub.get("description"), f"{section}.{key} lacks a description"
            assert "default" in sub, f"{section}.{key} lacks a default"


def test_config_readme_documents_every_key(schema, repo_root):
    readme = repo_root / "config" / "README.md"
    text = readme.read_text()
    for section, spec in schema["properties"].items():
        for key in spec.get("properties", {}):
            assert f"`{section}.{key}`" in text, f"config/README.md does not document {section}.{key}"
    # the tables are generated from the schema and must not drift: `atompump config-reference --update ...`
    assert generated_reference(readme) == schema_reference_markdown(schema)


def test_errors_name_key_and_allowed_values(schema, default_config):
    config = copy.deepcopy(default_config)
    config["imaging"]["pump_axis"] = "z"
    config["imaging"]["pixel_size_um"] = -1
    config["data"]["batchsize"] = 3
    with pytest.raises(ConfigError) as info:
        check_config(config, schema)
    text = str(info.value)
    assert "config key 'imaging.pump_axis': 'z' is not allowed; allowed values: ['x', 'y']" in text
    assert "config key 'imaging.pixel_size_um': -1 is out of range; allowed: {'exclusiveMinimum': 0}" in text
    assert "'batchsize' was unexpected" in text and "allowed keys: ['batch_size'" in text


def test_nullable_key_with_wrong_type(schema, default_config):
    config = copy.deepcopy(default_config)
    config["imaging"]["isat_counts"] = "lots"
    with pytest.raises(ConfigError, match=r"config key 'imaging.isat_counts': 'lots'"):
        check_config(config, schema)


def test_measured_source_needs_an_existing_manifest(schema, default_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = copy.deepcopy(default_config)
    config["data"]["source"] = "measured"
    with pytest.raises(ConfigError, match="'data.manifest': required when data.source is 'measured'"):
        check_config(config, schema)
    config["data"]["manifest"] = "runs/manifest.csv"
    with pytest.raises(ConfigError, match="'runs/manifest.csv' does not exist .*relative paths are taken from the "
                                          "working directory"):
        check_config(config, schema)


def test_planned_shot_count(default_config):
    # 5 cycles x 2 directions x 10 repeats pumped, plus a reference for each pumped shot with cycle > 0
    assert planned_shot_count(default_config) == 5 * 2 * 10 + 4 * 2 * 10


def test_measured_source_takes_a_manifest_or_labscript_shots(schema, default_config, tmp_path, monkeypatch):
    import h5py

    monkeypatch.chdir(tmp_path)
    config = copy.deepcopy(default_config)
    config["data"].update(source="measured", manifest="m.csv", shots="shots/*.h5")
    with pytest.raises(ConfigError, match="'data.manifest' and 'data.shots': give one of them, not both"):
        check_config(config, schema)
    config["data"]["manifest"] = None
    with pytest.raises(ConfigError, match="'data.shots': no file matches 'shots/\\*.h5' .*working directory"):
        check_config(config, schema)
    (tmp_path / "shots").mkdir()
    for i in range(7):
        h5py.File(tmp_path / "shots" / f"{i}.h5", "w").close()
    check_config(config, schema)
    assert planned_shot_count(config) == 7  # counted from the file names, nothing opened


def test_every_key_is_typed_and_commented_in_config_yaml(schema, repo_root):
    """Every schema key has a type (or enum); numbers that must be positive say so; every key of config.yaml
    carries a comment on its line (section headers excepted: their keys carry the comments)."""
    import re

    def leaves(spec, path=()):
        if "properties" in spec:
            for key, sub in spec["properties"].items():
                yield from leaves(sub, (*path, key))
        else:
            yield ".".join(path), spec

    for key, spec in leaves(schema):
        assert "type" in spec or "enum" in spec, f"{key} has no type"
    assert schema["properties"]["imaging"]["properties"]["pixel_size_um"]["exclusiveMinimum"] == 0
    assert schema["properties"]["data"]["properties"]["batch_size"]["minimum"] == 1
    lines = (repo_root / "config" / "config.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)(\w+):(.*)$", line)
        if not match or "#" in line:
            continue
        is_section = match.group(3).strip() == ""  # a section header: its keys carry the comments
        assert is_section, f"config/config.yaml line {i + 1}: key {match.group(2)!r} has no comment"


def test_keys_of_earlier_versions_are_refused_with_their_new_place(schema):
    """issue 12: the pump sequence moved into the section 'pump'; other problems are still reported beside it."""
    with pytest.raises(ConfigError) as info:
        check_config({"theory": {"cycle_period_ms": 300.0, "bogus": 1}, "simulation": {"pump": {"phi0": 1.0}}}, schema)
    lines = str(info.value).splitlines()[1:]
    assert lines[0].strip() == ("config key 'simulation.pump.phi0' has moved to pump.phi0: the simulator and the "
                                "theory share the section 'pump'")
    assert lines[1].strip().startswith("config key 'theory.cycle_period_ms' has moved to pump.period_ms")
    assert "('bogus' was unexpected)" in lines[2] and len(lines) == 3


def test_nan_and_inf_are_refused_naming_the_key(schema, default_config):
    """YAML .nan passes JSON Schema's range checks (NaN compares false); every non-finite number is refused, with
    its key, before any job (issue 15, item 7): before, pixel_size_um: .nan rejected every shot and lambda_l_nm: .nan
    ended in a traceback in the theory."""
    config = copy.deepcopy(default_config)
    config["imaging"]["pixel_size_um"] = float("nan")
    config["lattice"]["lambda_l_nm"] = float("nan")
    config["simulation"]["cycles"] = [0, 1, float("inf")]
    config["fit"]["n_bootstrap"] = float("-inf")  # an integer key: also named once (not also as a wrong type)
    with pytest.raises(ConfigError) as info:
        check_config(config, schema)
    lines = str(info.value).splitlines()[1:]
    assert lines == [f"  config key '{key}': {text} is not a finite number; give a number (YAML .nan and .inf are "
                     "never valid)" for key, text in [("fit.n_bootstrap", "-.inf"), ("imaging.pixel_size_um", ".nan"),
                                                      ("lattice.lambda_l_nm", ".nan"), ("simulation.cycles.2", ".inf")]]
    # read from YAML as a user writes it; a finite value beside it is still checked as before
    config = copy.deepcopy(default_config)
    config["imaging"].update(yaml.safe_load("pixel_size_um: .nan\npump_axis: z"))
    with pytest.raises(ConfigError, match=r"'imaging.pixel_size_um': \.nan is not a finite number(.|\n)*"
                                          r"'imaging.pump_axis': 'z' is not allowed"):
        check_config(config, schema)


def test_library_errors_name_parameters_and_the_boundary_names_config_keys():
    """A ParameterError names the library's own parameter; config_keys (the boundary) names the config key."""
    from atompump.config import config_keys
    from atompump.errors import ConfigError, ParameterError

    error = ParameterError("the cloud reaches the edge: raise {cells} or lower {atoms}", parameters=("cells", "atoms"))
    assert str(error) == "the cloud reaches the edge: raise cells or lower atoms"
    with pytest.raises(ConfigError, match=r"^config key 'simulation.pump.cells': the cloud reaches the edge: raise "
                                          r"simulation.pump.cells or lower pump.atoms_per_tube$"):
        with config_keys({"cells": "simulation.pump.cells", "atoms": "pump.atoms_per_tube"}):
            raise error
    with pytest.raises(ParameterError, match="raise cells"):  # no key known: the library's error goes on
        with config_keys({"other": "x.y"}):
            raise error


def test_a_data_problem_names_what_to_change_as_the_boundary_names_it():
    """A shot's file problem (InputDataError with parameters) stays a data problem; written down inside the
    boundary (a shot's reason) or leaving it, it names the config key, elsewhere the library's parameter."""
    from atompump.config import DATA_KEYS, config_keys
    from atompump.errors import InputDataError, literal

    def problem():
        return InputDataError(f"{literal('/data/{a}.h5')}: several image groups; set {{orientation}} and {{label}}",
                              parameters=("orientation", "label"))

    assert str(problem()) == "/data/{a}.h5: several image groups; set orientation and label"
    with config_keys(DATA_KEYS):
        reason = str(problem())  # what a shot's reason records inside a stage
    assert reason == "/data/{a}.h5: several image groups; set data.frames.orientation and data.frames.label"
    with pytest.raises(InputDataError) as info:
        with config_keys(DATA_KEYS):
            raise problem()
    assert str(info.value) == reason  # and the error that leaves the stage says the same
    assert str(problem()).endswith("set orientation and label")  # the naming ends with the boundary
