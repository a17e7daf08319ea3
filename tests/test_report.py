"""Report pieces: the figure catalogue, captions, provenance, reproducible figure files."""

import hashlib

import numpy as np

from atompump.config import config_section
from atompump.report.catalog import FIGURES, SCAN_FIGURE, TRUTH_FIGURES, figure_names
from atompump.report.figures import pull_histogram_figure, save_figure
from atompump.report.provenance import combined_digest, file_sha256, git_revision, package_versions


def test_snakemake_captions_match_the_catalogue(repo_root):
    for spec in FIGURES + TRUTH_FIGURES + (SCAN_FIGURE,):
        assert (repo_root / "workflow" / "report" / f"{spec.name}.rst").read_text().strip() == spec.caption
    assert len(set(figure_names())) == len(FIGURES)
    assert not {spec.name for spec in TRUTH_FIGURES} & set(figure_names())


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


def test_report_lists_every_rejected_shot_with_its_reason_and_counts_them_by_cause(tmp_path):
    """Quality cuts (a failed profile fit, a masked cloud window, an atom-number outlier found by the run-level cut)
    appear in the report's table of rejected shots with their reasons, and counted by cause in the summary."""
    import json
    from html import escape

    import xarray as xr

    from atompump.io.netcdf import write_dataset
    from atompump.reasons import Reason, RejectCause
    from atompump.stages.com import atom_number_outliers
    from atompump.stages.fit import fit_stage
    from atompump.stages.report import report_stage

    rng = np.random.default_rng(3)
    n = 40
    cycle = np.tile([0.0, 1.0, 2.0, 3.0], n // 4)
    direction = np.repeat([1.0, -1.0], n // 2)
    x = 30 + direction * 0.767 * cycle + rng.normal(0, 0.02, n)
    atoms = rng.normal(3000, 60, n)
    atoms[7] = 900.0
    used = np.ones(n, bool)
    reasons = [Reason()] * n
    reasons[3] = Reason("profile fit failed: fewer than 8 columns with data", RejectCause.FIT_FAILED)
    reasons[12] = Reason("62.0% of the cloud is masked: no probe light or a saturated camera there "
                         "(com.max_masked_fraction = 30%)", RejectCause.CLOUD_MASKED)
    used[[3, 12]] = False
    outliers = atom_number_outliers(atoms, used, max_mads=5.0)
    assert list(outliers) == [7] and "is an outlier" in outliers[7]
    reasons[7], used[7] = outliers[7], False
    com = xr.Dataset(
        {"x_com_um": ("shot", x, {"units": "um"}), "x_com_err_um": ("shot", np.full(n, 0.02), {"units": "um"}),
         "atom_number": ("shot", atoms), "used": ("shot", used), "reject_reason": ("shot", np.array(reasons, object)),
         "reject_cause": ("shot", np.array([r.code for r in reasons], object))},
        coords={"shot": [f"s{i:03d}" for i in range(n)], "cycle": ("shot", cycle), "direction": ("shot", direction),
                "reference": ("shot", np.zeros(n, bool))})
    write_dataset(com, tmp_path / "com.nc")
    (tmp_path / "theory.json").write_text(json.dumps({"chern_numbers": [1, -1, 1], "nu_theory": 1.0, "dl_um": 0.767}))
    summary = fit_stage(tmp_path / "com.nc", tmp_path / "theory.json", tmp_path / "summary.json", tmp_path / "fit.nc",
                        fit=config_section("fit", {"n_bootstrap": 0}))
    assert summary["n_used"] == n - 3 and summary["n_rejected"] == 3
    figures = tmp_path / "figures"
    figures.mkdir()
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    for spec in FIGURES:
        save_figure(fig, figures / f"{spec.name}.png")
    plt.close(fig)
    (tmp_path / "provenance.json").write_text(json.dumps({"git_revision": "test", "config": ""}))
    html = report_stage(tmp_path / "report.html", summary_path=tmp_path / "summary.json", com_path=tmp_path / "com.nc",
                        figures_dir=figures, provenance_path=tmp_path / "provenance.json")
    assert "Rejected shots (3)" in html
    for i in (3, 7, 12):
        assert f"<td>s{i:03d}</td><td>{reasons[i].code}</td><td>{escape(reasons[i])}</td>" in html
    for cause in ("rejected: profile fit failed", "rejected: atom-number outlier", "rejected: cloud masked (no probe light or a saturated camera)"):
        assert cause in html, cause
