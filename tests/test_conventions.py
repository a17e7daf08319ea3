"""The ecosystem's conventions (issue 15, item 5): the licence, the Snakemake workflow catalog's entry point,
settings and small CI config, and the version from git tags in the provenance."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from atompump.config import check_config, config_errors, load_schema
from test_workflow import TINY


def test_licence_is_the_mit_licence_pyproject_names(repo_root):
    text = (repo_root / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 atompump developers\n")
    assert "Permission is hereby granted, free of charge" in text
    assert 'license = { text = "MIT" }' in (repo_root / "pyproject.toml").read_text()


def test_test_config_is_valid_and_is_the_tiny_run(repo_root):
    """.test/config/config.yaml (what the catalog's CI runs) is valid against the schema, and it is the config of
    tests/test_workflow.py's end-to-end "tiny" run, so the suite runs it in full (and checks its numbers)."""
    config = yaml.safe_load((repo_root / ".test/config/config.yaml").read_text())
    assert config == TINY
    defaults = yaml.safe_load((repo_root / "config/config.yaml").read_text())
    merged = {**defaults, **{section: {**defaults[section], **values} for section, values in config.items()}}
    schema = load_schema(repo_root / "workflow/schemas/config.schema.yaml")
    assert config_errors(merged, schema) == []
    check_config(merged, schema)


def test_catalog_entry_point_plans_the_test_run(repo_root, tmp_path):
    """`snakemake -s workflow/Snakefile --configfile .test/config/config.yaml` (the catalog's entry point, which
    includes ../Snakefile): a dry run plans the whole workflow for the test config's 24 shots (3 batches of 8)."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo_root / "workflow/Snakefile"), "-d",
                           str(tmp_path / "run"), "--configfile", str(repo_root / ".test/config/config.yaml"),
                           "--cores", "2", "-n"], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert counts["reduce_batch"] == counts["com_batch"] == "3" and counts["report"] == "1"
    assert counts["default"] == "1" and counts["total"] == "20"  # rule all's files, as ../Snakefile's
    assert not (tmp_path / "run/results").exists()


def test_catalog_settings(repo_root):
    settings = yaml.safe_load((repo_root / ".snakemake-workflow-catalog.yml").read_text())
    usage = settings["usage"]
    assert usage["software-stack-deployment"] == {"conda": True} and usage["report"] is True
    assert "data.manifest" in usage["mandatory-flags"]["desc"]
    # every rule's conda environment exists; the catalog's standardized usage also wants config/README.md
    for rule_file in (repo_root / "workflow/rules").glob("*.smk"):
        for env in re.findall(r'conda:\n\s+"([^"]+)"', rule_file.read_text()):
            assert (rule_file.parent / env).resolve().is_file(), (rule_file.name, env)
    assert (repo_root / "config/README.md").is_file()


def test_lint_is_clean_from_the_catalog_entry_point(repo_root, tmp_path):
    # (../Snakefile's own lint: tests/test_workflow.py::test_lint_is_clean)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo_root / "workflow/Snakefile"), "-d",
                           str(tmp_path / "lint"), "--lint"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Lints for" not in proc.stdout + proc.stderr


# --- the version: from the git tags ------------------------------------------------------------------------------

def test_version_comes_from_git_tags_through_setuptools_scm(repo_root):
    import tomllib

    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and pyproject["project"]["dynamic"] == ["version"]
    assert any(req.startswith("setuptools-scm>=") for req in pyproject["build-system"]["requires"])
    assert pyproject["tool"]["setuptools_scm"]["fallback_version"] == "0.1.0.dev0"  # a copy without git metadata


class _Dist:
    def __init__(self, version, direct_url, location):
        self.version, self._direct_url, self._location = version, direct_url, location

    def read_text(self, name):
        return self._direct_url if name == "direct_url.json" else None

    def locate_file(self, path):
        return self._location / path


def test_version_is_the_installed_one_only_for_this_copy_of_the_library(monkeypatch, tmp_path):
    """atompump.__version__: the installed distribution's version (setuptools-scm's, from the tags), but only when
    that distribution is the library running; the workflow runs its own checkout, installed or not."""
    import importlib.metadata
    import json

    import atompump

    here = tmp_path / "checkout"
    (here / "atompump").mkdir(parents=True)
    editable = json.dumps({"dir_info": {"editable": True}, "url": here.as_uri()})
    cases = [(_Dist("0.1.0", editable, tmp_path / "site"), "0.1.0"),  # pip install -e of this checkout
             (_Dist("0.1.0", json.dumps({"dir_info": {"editable": True}, "url": (tmp_path / "other").as_uri()}),
                    tmp_path / "site"), "0.0.0+unknown"),  # another checkout installed
             (_Dist("0.2.0", None, here), "0.2.0"),  # a regular install: this is its site-packages copy
             (_Dist("0.2.0", None, tmp_path / "site"), "0.0.0+unknown")]  # ... of another copy
    for dist, expected in cases:
        monkeypatch.setattr(importlib.metadata, "distribution", lambda name, dist=dist: dist)
        assert atompump._installed_version(here / "atompump") == expected

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    assert atompump._installed_version(here / "atompump") == "0.0.0+unknown"


def test_provenance_shows_the_version_tag(tmp_path):
    """The provenance's git_revision is `git describe --tags`: the version tag (lightweight ones too), the commits
    since it and the commit; its packages list this library's own version."""
    import atompump
    from atompump.report.provenance import git_revision, package_versions

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                       capture_output=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("a\n")
    git("add", "a.txt")
    git("commit", "-qm", "first")
    assert re.fullmatch(r"[0-9a-f]{12}", git_revision(tmp_path))  # no tag yet: the commit
    git("tag", "v0.1.0")
    assert git_revision(tmp_path) == "v0.1.0"
    (tmp_path / "a.txt").write_text("b\n")
    git("commit", "-qam", "second")
    assert re.fullmatch(r"v0\.1\.0-1-g[0-9a-f]{12}", git_revision(tmp_path))
    (tmp_path / "a.txt").write_text("c\n")
    assert git_revision(tmp_path).endswith("-dirty")
    assert package_versions(["atompump"]) == {"atompump": atompump.__version__}
