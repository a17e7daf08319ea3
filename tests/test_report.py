"""Report pieces: the figure catalogue, captions, provenance, reproducible figure files."""

import hashlib

import numpy as np

from atompump.report.catalog import FIGURES, figure_names
from atompump.report.figures import pull_histogram_figure, save_figure
from atompump.report.provenance import combined_digest, file_sha256, git_revision, package_versions


def test_snakemake_captions_match_the_catalogue(repo_root):
    for spec in FIGURES:
        assert (repo_root / "workflow" / "report" / f"{spec.name}.rst").read_text().strip() == spec.caption
    assert len(set(figure_names())) == len(FIGURES)


def test_figures_are_byte_reproducible(tmp_path):
    pulls = np.random.default_rng(1).normal(size=300)
    for ext in ("png", "pdf", "svg"):
        save_figure(pull_histogram_figure(pulls), tmp_path / f"a.{ext}")
        save_figure(pull_histogram_figure(pulls), tmp_path / f"b.{ext}")
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes(), ext
    assert b"CreationDate" not in (tmp_path / "a.pdf").read_bytes()


def test_provenance_helpers(tmp_path, repo_root):
    (tmp_path / "f.bin").write_bytes(b"atompump")
    assert file_sha256(tmp_path / "f.bin") == hashlib.sha256(b"atompump").hexdigest()
    assert combined_digest([("a", "1"), ("b", "2")]) != combined_digest([("b", "2"), ("a", "1")])
    versions = package_versions(["numpy", "surely-not-a-package"])
    assert versions["numpy"] == np.__version__ and versions["surely-not-a-package"] == "not installed"
    assert git_revision(tmp_path) == "unknown"
    assert git_revision(repo_root) != "unknown"
