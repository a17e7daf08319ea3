"""Blind analysis (issue 14, item 5): the hidden offset, the secret, the blinded fit stage.

The whole chain (a workflow run blinded, no true nu anywhere under results/, `atompump unblind` giving back the
unblinded run's bytes) is tested in tests/test_workflow.py::test_blind_analysis_and_unblinding.
"""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest
import xarray as xr

from atompump.config import config_section
from atompump.errors import ConfigError
from atompump.fit.blind import BLIND_HALF_WIDTH, blind_offset, secret_check
from atompump.io.netcdf import read_dataset, write_dataset
from atompump.stages.blind import default_secret_path, read_secret
from atompump.stages.fit import fit_stage

DL = 0.767
SECRET = b"5f1c0a9e3b7d4c2a8e6f0b1d3c5a7e9f1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a"


def test_offset_is_uniform_in_its_range_reproducible_and_the_check_reveals_nothing():
    offsets = np.array([blind_offset(i.to_bytes(4, "big") * 8) for i in range(4000)])
    assert offsets.min() >= -BLIND_HALF_WIDTH and offsets.max() < BLIND_HALF_WIDTH
    # uniform on [-0.25, 0.25): mean 0 +- 0.0023, std 0.25 / sqrt(3) = 0.1443
    assert abs(offsets.mean()) < 3 * 0.1443 / np.sqrt(4000)
    assert offsets.std() == pytest.approx(BLIND_HALF_WIDTH / np.sqrt(3), rel=0.03)
    assert blind_offset(SECRET) == blind_offset(SECRET) and blind_offset(SECRET) != blind_offset(SECRET + b"0")
    assert len(secret_check(SECRET)) == 16 and secret_check(SECRET) != secret_check(SECRET + b"0")
    with pytest.raises(ValueError, match="empty"):
        blind_offset(b"")


def test_secret_is_created_once_private_and_never_inside_results(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    path = default_secret_path()
    assert path == tmp_path / "cfg" / "atompump" / "blind-secret"
    first = read_secret(path, create=True)
    assert len(first) == 64 and int(first, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_secret(path, create=True) == first  # not replaced
    with pytest.raises(ConfigError, match="inside the run's results folder"):
        read_secret(tmp_path / "run" / "results" / "secret", create=True, results_dir=tmp_path / "run" / "results")
    assert not (tmp_path / "run" / "results").exists()
    with pytest.raises(ConfigError, match="no blinding secret at .*give its file with --secret"):
        read_secret(tmp_path / "elsewhere")


def _inputs(tmp_path):
    rng = np.random.default_rng(4)
    cycle = np.tile(np.repeat([0.0, 1, 2, 3], 2), 6)
    direction = np.tile([1.0, -1.0], 24)
    reference = np.zeros(cycle.size, bool)
    reference[::8] = True  # cycle-0 shots as constant-phi references of the 3-cycle sequences
    sequence = np.where(reference, 3.0, cycle)
    x = 20 + direction * 0.9634 * DL * cycle + rng.normal(0, 0.05, cycle.size)
    n = x.size
    com = xr.Dataset(
        {"x_com_um": ("shot", x), "x_com_err_um": ("shot", np.full(n, 0.05)), "atom_number": ("shot", np.ones(n)),
         "used": ("shot", np.ones(n, bool)), "reject_reason": ("shot", np.array([""] * n, dtype=object))},
        coords={"shot": [f"s{i:03d}" for i in range(n)], "cycle": ("shot", cycle), "direction": ("shot", direction),
                "reference": ("shot", reference), "sequence_cycles": ("shot", sequence)})
    write_dataset(com, tmp_path / "com.nc")
    (tmp_path / "theory.json").write_text(json.dumps({"chern_numbers": [1, -1, 1], "nu_theory": 1.0, "dl_um": DL}))


def _fit(tmp_path, name, **fit):
    out = tmp_path / name
    out.mkdir()
    summary = fit_stage(tmp_path / "com.nc", tmp_path / "theory.json", out / "summary.json", out / "fit.nc",
                        fit=config_section("fit", {"n_bootstrap": 200, **fit}))
    return summary, read_dataset(out / "fit.nc"), out


def test_blinded_fit_shifts_every_nu_by_the_hidden_offset_and_nothing_else(tmp_path):
    _inputs(tmp_path)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET + b"\n")
    offset = blind_offset(SECRET)
    plain, plain_fit, _ = _fit(tmp_path, "plain")
    blind, blind_fit, out = _fit(tmp_path, "blind", blind=True, blind_secret=str(secret))
    assert plain["blinded"] is False and blind["blinded"] is True
    assert blind["blind_check"] == secret_check(SECRET) and "BLINDED" in blind["blind_note"]
    assert blind["nu"] == pytest.approx(plain["nu"] + offset, abs=1e-9)
    assert blind["nu_err"] == pytest.approx(plain["nu_err"], rel=1e-6)
    assert blind["displacement_per_cycle_um"] == pytest.approx((plain["nu"] + offset) * DL, abs=1e-9)
    assert blind["deviation_sigma"] == pytest.approx((plain["nu"] + offset - 1.0) / plain["nu_err"], rel=1e-6)
    assert blind["efficiency"] == pytest.approx(plain["efficiency"] + offset, abs=1e-9)
    for key in ("reference", "direction"):  # the differential analyses carry the same offset
        assert blind["differential"][key]["nu"] == pytest.approx(plain["differential"][key]["nu"] + offset, abs=1e-9)
    for model in ("linear", "linear_drift", "per_direction"):
        assert blind["alternatives"][model]["nu"] == pytest.approx(plain["alternatives"][model]["nu"] + offset,
                                                                   abs=1e-8)
    assert blind["bootstrap"]["nu_mean"] == pytest.approx(plain["bootstrap"]["nu_mean"] + offset, abs=1e-9)
    assert blind["bootstrap"]["nu_std"] == pytest.approx(plain["bootstrap"]["nu_std"], rel=1e-6)
    assert blind["x0_um"] == pytest.approx(plain["x0_um"]) and blind["reduced_chi2"] == pytest.approx(
        plain["reduced_chi2"])
    np.testing.assert_allclose(blind_fit.residual_um, plain_fit.residual_um, atol=1e-9)
    np.testing.assert_allclose(blind_fit.pull, plain_fit.pull, atol=1e-8)
    com = read_dataset(tmp_path / "com.nc")
    pumped = ~com.reference.values
    shift = np.where(pumped, com.direction.values * offset * DL * com.cycle.values, 0.0)
    np.testing.assert_allclose(blind_fit.x_centre_um, com.x_com_um + shift, atol=1e-12)
    assert blind_fit.attrs["blinded"] == 1 and plain_fit.attrs["blinded"] == 0
    # the true nu, the offset and the secret appear nowhere in the blinded outputs
    text = (out / "summary.json").read_text() + json.dumps(blind_fit.attrs, default=str)
    for value in (plain["nu"], plain["displacement_per_cycle_um"], offset):
        assert repr(value) not in text and f"{value:.4f}" not in text
    assert SECRET.decode() not in text


def test_unblind_refuses_a_wrong_secret_and_an_unfinished_run(tmp_path):
    from atompump.errors import InputDataError
    from atompump.stages.blind import unblind_stage

    results = tmp_path / "run" / "results"
    with pytest.raises(InputDataError, match="not the results folder of a finished run"):
        unblind_stage(results)
    (results / "fit").mkdir(parents=True)
    (results / "report").mkdir()
    (results / "fit" / "summary.json").write_text(json.dumps({"blinded": True, "blind_check": secret_check(SECRET)}))
    (results / "report" / "provenance.json").write_text(json.dumps(
        {"config": "fit: {blind: true, blind_secret: secret}\n"}))
    (tmp_path / "run" / "secret").write_bytes(SECRET + b"0\n")  # relative to the run's folder, as the workflow's -d
    with pytest.raises(ConfigError, match=r"the secret in .*run/secret is not the one that blinded"):
        unblind_stage(results)
