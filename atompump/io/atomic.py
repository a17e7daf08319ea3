"""Atomic file writing: a reader never sees a half-written output.

Every writer in atompump writes to a temporary file in the destination folder and renames it into place with
:func:`os.replace`, which is atomic on POSIX file systems. An interrupted run therefore leaves either the old
file or the new one, never a truncated one, and a rerun simply redoes the missing outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_path", "remove_partial_files", "write_json", "write_text", "write_bytes", "to_jsonable"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp")
    except OSError as exc:
        exc.filename = str(path)  # a read-only folder, a full disk: name the output, not the temporary file
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the permissions of open()
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, OSError) and exc.filename in (None, str(tmp_path)):
            exc.filename = str(path)  # e.g. a full disk while writing: name the output the error is about
        raise


def remove_partial_files(paths: list[str | os.PathLike]) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left next to ``paths`` when its process was killed.

    A process killed while writing (SIGKILL, a cluster's time limit, power loss) cannot remove its temporary file
    ``.<name>.<8 random characters><suffix>``. A workflow job calls this for its own outputs before it writes them
    (``workflow/scripts/_checkout.py``), so that a resumed run leaves the same files as an uninterrupted one. Only
    call it for paths no other running process is writing. Returns the files removed.
    """
    removed = []
    for path in map(Path, paths):
        if not path.parent.is_dir():
            continue
        pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}(\.[^./]+)?")
        for entry in os.scandir(path.parent):
            if entry.name.startswith(f".{path.name}.") and pattern.fullmatch(entry.name) and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays (recursively) to plain Python for :mod:`json`.

    Non-finite floats become ``None`` so that the output is strict JSON.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if np.isfinite(value) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted strict JSON, atomically (same object, same bytes)."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_text(path, text)
