"""The library's boundaries (issue 15): no stage imports another stage's private names; the report draws only what
the stages wrote."""

from __future__ import annotations

import ast
from pathlib import Path

STAGES = Path(__file__).resolve().parents[1] / "atompump" / "stages"


def test_no_stage_imports_another_stages_private_names():
    found = []
    for path in sorted(STAGES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("atompump.stages."):
                found += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and node.module != f"atompump.stages.{path.stem}"]
    assert not found, found


def test_the_report_stage_reads_no_frames_and_reduces_nothing():
    """stages/report.py neither reads camera files nor reduces: the example shot's panels come from the reduction
    (example.nc), the fitted curves from fit.nc."""
    imported = set()
    for node in ast.walk(ast.parse((STAGES / "report.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{a.name}" for a in node.names}
    forbidden = {name for name in imported if name.startswith(("atompump.stages.reduce", "atompump.io.shots",
                                                                 "atompump.reduce", "atompump.fit.models"))}
    assert not forbidden, forbidden


def test_no_library_default_duplicates_the_schema():
    """Defaults live only in the schema: no ``section.get(key, default)`` on a config section in the library (a
    partial config is completed with :func:`atompump.config.fill_defaults` / ``config_section`` where it enters).
    ``config.py`` reads the raw config before it is checked and filled; ``theory`` in ``stages/fit.py`` is
    theory.json."""
    sections = {"atom", "com", "config", "data", "fit", "imaging", "injection", "interaction", "lattice", "pump",
                "report", "simulation", "theory", "camera", "cloud"}
    allowed = {("config.py", name) for name in sections} | {("fit.py", "theory")}

    def receiver(node):
        while isinstance(node, ast.Subscript):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    found = []
    for path in sorted(STAGES.parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and len(node.args) == 2 and not (isinstance(node.args[1], ast.Constant)
                                                     and node.args[1].value is None)):
                name = receiver(node.func.value)
                if name in sections and (path.name, name) not in allowed:
                    found.append(f"{path.relative_to(STAGES.parent)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found


def test_library_errors_name_no_config_key_outside_the_boundary():
    """Errors that name config keys are raised only at the configuration boundary (issue 15): outside
    ``atompump/stages``, ``config.py`` and the command line the library raises ``ParameterError`` naming its own
    parameters (``config_keys`` at the boundary names the keys), never ``ConfigError`` or a message with a config
    key. The simulator (``simulate/``) has its own scan. The problems of one shot's files (``io/formats.py``,
    ``io/shots.py``'s frame choice) name what to change as ``InputDataError(..., parameters=...)`` placeholders,
    which the boundary names (the shot's reason says ``data.frames.orientation``). The lyse routines' own config
    check is their boundary."""
    import re

    key = re.compile(r"config key|\b(imaging|injection|data|report|com|fit|lattice|pump|interaction|simulation|theory)"
                     r"\.(?!nc\b)[a-z_]+\b")
    allowed = {("lyse/__init__.py", "_checked")}
    library = STAGES.parent
    found = []
    for path in sorted(library.rglob("*.py")):
        name = path.relative_to(library).as_posix()
        if name.startswith(("stages/", "simulate/")) or name in ("config.py", "cli.py"):
            continue
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if not (isinstance(node, ast.Raise) and node.exc is not None):
                    continue
                text = " ".join(c.value for c in ast.walk(node.exc) if isinstance(c, ast.Constant)
                                and isinstance(c.value, str))
                config_error = any(isinstance(n, ast.Name) and n.id == "ConfigError" for n in ast.walk(node.exc))
                if (key.search(text) or config_error) and not {(name, None), (name, function.name)} & allowed:
                    found.append(f"{name}:{node.lineno} ({function.name}): {text[:80]!r}")
    assert not found, sorted(set(found))
