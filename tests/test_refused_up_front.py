"""Hostile but plausible input refused with one line, never a traceback (issue 15, item 7): a non-finite config
value or a header-only manifest before any job; a read-only output folder or a full disk in the words of
:func:`atompump._logging.storage_error_message`, with nothing half-written left."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from atompump._logging import output_folder_error, run_stage, storage_errno, storage_error_message
from atompump.io.atomic import write_json


def snakemake(repo: Path, workdir: Path, config: dict, *extra: str, **kwargs) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir.parent / f"{workdir.name}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir), "--configfile",
           str(cfg), "--cores", "1", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir.parent, timeout=300, **kwargs)


def test_nan_in_the_config_stops_the_workflow_before_any_job(repo_root, tmp_path):
    proc = snakemake(repo_root, tmp_path / "run", {"imaging": {"pixel_size_um": float("nan")},
                                                   "lattice": {"lambda_l_nm": float("inf")}})
    assert proc.returncode != 0
    assert "config key 'imaging.pixel_size_um': .nan is not a finite number" in proc.stderr
    assert "config key 'lattice.lambda_l_nm': .inf is not a finite number" in proc.stderr
    assert not (tmp_path / "run/results").exists()


def test_header_only_manifest_is_refused_while_the_workflow_is_read(repo_root, tmp_path):
    manifest = tmp_path / "run1/manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text("shot,atoms,probe,dark,cycle,direction\n")
    proc = snakemake(repo_root, tmp_path / "out", {"data": {"source": "measured", "manifest": str(manifest)}}, "-n")
    out = proc.stdout + proc.stderr  # a dry run (-n) prints to stdout
    assert proc.returncode != 0
    assert f"manifest {manifest} has a header but no shots: add one row per shot" in out
    assert "IndexError" not in out and "Traceback" not in out


# --- a full disk, a read-only folder --------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _restore_logging():
    """run_stage configures the root logger (as in a job's own process); give the other tests theirs back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level
    logging.captureWarnings(False)


def test_full_disk_while_writing_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    """ENOSPC in the middle of a write (the write itself raises): one line naming the output, exit status 1, and
    no file, not even the hidden temporary one, is left."""
    out = tmp_path / "results/fit"
    out.mkdir(parents=True)
    (out / "fit.nc").write_bytes(b"finished earlier")

    def full(self, data):
        with open(self, "wb") as fh:
            fh.write(data[: len(data) // 2])  # half of it reached the disk ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then the disk was full

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(SystemExit) as info:
        run_stage(tmp_path / "logs/fit.log", write_json, out / "summary.json", {"nu": 0.98})
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == (f"ERROR atompump: cannot write {out / 'summary.json'}: the disk is full (No space left on device); "
                   "free some space on it; finished outputs are kept and nothing half-written was left, so rerunning "
                   "the same command goes on\n")
    assert sorted(p.name for p in out.iterdir()) == ["fit.nc"] and (out / "fit.nc").read_bytes() == b"finished earlier"
    assert (tmp_path / "logs/fit.log").read_text() == err  # the job's log says the same


def test_storage_errors_are_recognised_also_from_h5py(tmp_path):
    # h5py: the errno only in the text of a RuntimeError raised while a dataset is written
    h5 = RuntimeError("Can't decrement id ref count (file write failed: time = Thu Dec  3 21:44:59 2026\n, filename = "
                      "'/data/results/com/.com.nc.8hl6ao42.nc', file descriptor = 4, errno = 28, error message = 'No "
                      "space left on device', buf = 0x562e8b7e0148, total write size = 384)")
    assert storage_errno(h5) == errno.ENOSPC
    assert storage_error_message(h5).startswith("cannot write an output: the disk is full (No space left on device)")
    assert storage_errno(OSError(errno.EDQUOT, "Disk quota exceeded")) == errno.EDQUOT
    assert storage_errno(FileNotFoundError(errno.ENOENT, "No such file", "x.nc")) is None
    assert storage_errno(ValueError("errno = 28")) is None
    # an error that is not about the disk keeps its traceback (a bug, or a missing input the stage names)
    with pytest.raises(FileNotFoundError):
        run_stage(None, lambda: open(tmp_path / "missing.json"))


def test_nearly_full_disk_and_read_only_file_system_before_the_run(tmp_path, monkeypatch):
    real = os.statvfs(tmp_path)

    class Stats:
        f_flag, f_frsize = real.f_flag, 4096
        f_bavail = 10 * 1_000_000 // 4096  # 10 MB

    monkeypatch.setattr(os, "statvfs", lambda path: Stats)
    assert output_folder_error(tmp_path) is None  # writable; free space only checked when asked
    full = output_folder_error(tmp_path, min_free_mb=100)
    assert storage_error_message(full, before_run=True) == (
        f"cannot write {tmp_path}: the disk is full (10 MB free, a run needs at least 100 MB); free some space on it; "
        "no job was started")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    Stats.f_flag = os.ST_RDONLY
    assert storage_error_message(output_folder_error(tmp_path), before_run=True) == (
        f"cannot write {tmp_path}: the file system is read-only (Read-only file system); give snakemake -d a folder "
        "on a writable disk; no job was started")


def _as_user_without_override():
    """preexec_fn for a child that obeys file permissions even as root (drops CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH from its bounding set before exec), so that chmod makes a folder read-only for it."""
    if os.geteuid() != 0:
        return None

    def drop():
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return drop


def test_read_only_output_folder_is_one_line(repo_root, tmp_path):
    """A folder made read-only with chmod: the stage run by a job says so in one line and exits 1; the workflow
    refuses a read-only working directory while it is read, before any job."""
    out = tmp_path / "results"
    out.mkdir()
    (tmp_path / "logs").mkdir()
    out.chmod(0o555)
    try:
        code = ("from atompump._logging import run_stage\nfrom atompump.io.atomic import write_json\n"
                "run_stage('logs/fit.log', write_json, 'results/summary.json', {'nu': 0.98})\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(repo_root)}, preexec_fn=_as_user_without_override())
        assert proc.returncode == 1
        assert proc.stderr == ("ERROR atompump: cannot write results/summary.json: permission denied (Permission "
                               "denied); make the folder writable for you (chmod u+w) or give snakemake -d another; "
                               "finished outputs are kept and nothing half-written was left, so rerunning the same "
                               "command goes on\n")
        assert list(out.iterdir()) == []

        proc = snakemake(repo_root, out, {"data": {"batch_size": 8}}, preexec_fn=_as_user_without_override())
        assert proc.returncode != 0
        assert (f"cannot write {out}: permission denied (Permission denied); make the folder writable for you (chmod "
                "u+w) or give snakemake -d another; no job was started") in proc.stderr
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)  # for the clean-up


def test_full_disk_in_a_command_line_tool_is_one_line(tmp_path, monkeypatch, capsys, repo_root):
    """The ``atompump`` commands say a full disk in one line (status 1, no traceback) and leave the file whole."""
    import shutil

    from atompump.cli import main

    readme = tmp_path / "README.md"
    shutil.copy(repo_root / "config/README.md", readme)
    text = readme.read_text().replace("| `atom` |", "| `atom (stale)` |", 1)
    readme.write_text(text)

    def full(self, data):
        with open(self, "wb") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    assert main(["config-reference", "--update", str(readme)]) == 1
    err = capsys.readouterr().err
    assert err == (f"atompump: error: cannot write {readme}: the disk is full (No space left on device); free some "
                   "space on it; finished outputs are kept and nothing half-written was left, so rerunning the same "
                   "command goes on\n")
    assert readme.read_text() == text and sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]


def test_a_job_log_on_a_full_disk_does_not_print_logging_tracebacks(tmp_path, capsys):
    """The job's log file sits on the full disk too: its records are dropped quietly (stderr still has them), not
    reported by logging as "--- Logging error ---" with a traceback each."""
    from atompump._logging import configure_logging

    configure_logging(tmp_path / "job.log")
    log_file = next(h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler))

    class FullDisk:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

    log_file.stream = FullDisk()
    logging.getLogger("atompump").info("pump dynamics: 1/9 time samples")
    err = capsys.readouterr().err
    assert err == "INFO atompump: pump dynamics: 1/9 time samples\n"
    # another failure is still reported (a bug must not be hidden)
    log_file.stream = type("Broken", (), {"write": lambda self, t: 1 / 0, "flush": lambda self: None})()
    logging.getLogger("atompump").info("x")
    assert "--- Logging error ---" in capsys.readouterr().err
