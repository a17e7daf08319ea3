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
