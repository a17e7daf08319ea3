"""Provenance of a run: package versions, the workflow's git revision, checksums of inputs.

Nothing here reads a clock: the same code, inputs and config give the same provenance.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["PACKAGES", "CombinedDigest", "package_versions", "git_revision", "file_sha256", "combined_digest"]

PACKAGES = ("atompump", "numpy", "scipy", "xarray", "h5netcdf", "h5py", "lmfit", "matplotlib", "tifffile",
            "astropy", "pyyaml", "jsonschema", "snakemake")


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` ('not installed' where missing); for ``atompump`` the version of the
    library running (:data:`atompump.__version__`: from the git tags, via setuptools-scm at install time)."""
    from atompump import __version__

    out = {}
    for name in packages:
        if name == "atompump":
            out[name] = __version__  # not another installed copy's version
            continue
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_revision(path: str | os.PathLike) -> str:
    """``git describe --tags --always --dirty --abbrev=12`` of the checkout containing ``path`` (e.g.
    ``v0.1.0-3-g0123456789ab-dirty``: the last version tag, the commits since and the commit), or 'unknown'."""
    try:
        proc = subprocess.run(["git", "-C", str(path), "describe", "--tags", "--always", "--dirty", "--abbrev=12"],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "unknown"


def file_sha256(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def combined_digest(items: Iterable[tuple[str, str]]) -> str:
    """One SHA-256 over ``(name, sha256)`` pairs, in the given order: a fingerprint of a whole run's inputs."""
    digest = CombinedDigest()
    for name, value in items:
        digest.add(name, value)
    return digest.hexdigest()


class CombinedDigest:
    """:func:`combined_digest` built one pair at a time (a run's file list is never held whole)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def add(self, name: str, value: str) -> None:
        """Add the SHA-256 ``value`` of the file ``name``."""
        self._digest.update(f"{name}\0{value}\n".encode())

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
