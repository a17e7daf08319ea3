"""Logging set-up shared by the command line and the workflow adapters."""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import sys

__all__ = ["Progress", "configure_logging", "run_stage", "output_folder_error", "storage_errno",
           "storage_error_message"]

_FORMAT = "%(levelname)s %(name)s: %(message)s"


class Progress:
    """Log lines that show how far a long loop has got: ``<what>: <done>/<total> <unit> (<percent> %)``.

    A line is logged every ``ceil(fraction * total)`` items (10 %, 20 %, ... by default) and at the end, so a loop
    of any length logs about ``1 / fraction`` lines. The lines carry counts, never times: logs of identical runs
    stay identical. With ``total=None`` (length unknown) a line is logged every ``every`` items.

    Parameters
    ----------
    logger : logging.Logger
        Where the lines go (the calling module's logger).
    what : str
        What is counted, e.g. ``"simulate"`` or ``"gather"``.
    total : int or None
        Number of items of the loop.
    unit : str, keyword-only
        Name of the items, e.g. ``"shots"``.
    fraction : float, keyword-only
        Fraction of ``total`` between two lines (0 < fraction <= 1).
    every : int, keyword-only
        Items between two lines when ``total`` is None.

    Examples
    --------
    >>> progress = Progress(log, "simulate", 20000, unit="shots")
    >>> for shot in shots:
    ...     simulate(shot)
    ...     progress.update()          # logs "simulate: 2000/20000 shots (10 %)", ...
    """

    def __init__(self, logger: logging.Logger, what: str, total: int | None, *, unit: str = "",
                 fraction: float = 0.1, every: int = 1000, level: int = logging.INFO) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.logger, self.what, self.total, self.unit, self.level = logger, what, total, unit, level
        self.done = 0
        self._step = max(1, every) if total is None else max(1, math.ceil(fraction * total))
        self._next = self._step

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items; log a line when a mark (or the end) is reached."""
        self.done += n
        if self.done >= self._next or (self.total is not None and self.done >= self.total):
            while self._next <= self.done:
                self._next += self._step
            unit = f" {self.unit}" if self.unit else ""
            if self.total:
                self.logger.log(self.level, "%s: %d/%d%s (%.0f %%)", self.what, self.done, self.total, unit,
                                100.0 * self.done / self.total)
            else:
                self.logger.log(self.level, "%s: %d%s", self.what, self.done, unit)


def configure_logging(log_path: str | os.PathLike | None = None, *, level: int = logging.INFO) -> None:
    """Send atompump's log records to ``log_path`` (and to stderr).

    The records carry no wall-clock time, so logs of identical runs are identical too.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        handlers.append(_LogFile(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format=_FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)


class _LogFile(logging.FileHandler):
    """The job's log file. When the disk it is on is full (or turned read-only), a record that cannot be written is
    dropped quietly: stderr gets every record, and the stage's one-line message says what happened, instead of
    logging's "--- Logging error ---" and a traceback for each record."""

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if exc is not None and storage_errno(exc) is not None:
            return
        super().handleError(record)


_STORAGE_ERRORS = {
    errno.ENOSPC: ("the disk is full", "free some space on it"),
    errno.EDQUOT: ("the disk quota is used up", "free some space or ask for a larger quota"),
    errno.EROFS: ("the file system is read-only", "give snakemake -d a folder on a writable disk"),
    errno.EACCES: ("permission denied", "make the folder writable for you (chmod u+w) or give snakemake -d another"),
    errno.EPERM: ("operation not permitted", "make the folder writable for you (chmod u+w) or give snakemake -d "
                                             "another"),
}
"""errno -> (what happened, what to do) of the errors that are about where outputs go, not about atompump."""


def storage_errno(exc: BaseException) -> int | None:
    """The errno of ``exc`` when it is a full disk, a read-only file system or a permission problem, else None.

    h5py's errors carry the C library's errno in ``exc.errno`` or only in the text, as ``errno = 28`` (some of
    them are RuntimeErrors), so both are looked at.
    """
    if not isinstance(exc, (OSError, RuntimeError)):  # h5py raises RuntimeError from some failed writes
        return None
    code = getattr(exc, "errno", None)
    if code is None:
        found = re.search(r"\berrno = (\d+)", str(exc))
        code = int(found.group(1)) if found else None
    return code if code in _STORAGE_ERRORS else None


def storage_error_message(exc: OSError | RuntimeError, *, before_run: bool = False) -> str:
    """One line for a full disk / read-only or unwritable folder: the file, what happened and what to do, e.g.
    ``cannot write results/com/com.nc: the disk is full (No space left on device); free some space on it; finished
    outputs are kept and nothing half-written was left, so rerunning the same command goes on``.

    ``exc`` must be one that :func:`storage_errno` recognises; ``before_run``: found before any job started
    (:func:`output_folder_error`).
    """
    code = storage_errno(exc)
    what, todo = _STORAGE_ERRORS[code]
    filename, strerror = getattr(exc, "filename", None), getattr(exc, "strerror", None)
    where = f" {filename}" if filename else " an output"
    reason = strerror if strerror and getattr(exc, "errno", None) == code and "errno =" not in strerror else \
        os.strerror(code)
    after = ("no job was started" if before_run else
             "finished outputs are kept and nothing half-written was left, so rerunning the same command goes on")
    return f"cannot write{where}: {what} ({reason}); {todo}; {after}"


MIN_FREE_MB = 100
"""Free space (MB) the output folder needs when a run starts: less counts as a full disk."""


def output_folder_error(folder: str | os.PathLike, *, min_free_mb: float | None = None) -> OSError | None:
    """Why outputs cannot be written in ``folder`` (an :class:`OSError` :func:`storage_error_message` words), or None.

    A read-only file system (``EROFS``) or a folder the user may not write in (``EACCES``); with ``min_free_mb``,
    also less than that many MB free (``ENOSPC``). The workflow checks its working directory before any job
    (``workflow/rules/common.smk``); once running, a disk that fills or a subfolder made read-only is reported by
    :func:`run_stage` in the same words.
    """
    folder = os.fspath(folder)
    stats = os.statvfs(folder)
    if not os.access(folder, os.W_OK):
        code = errno.EROFS if stats.f_flag & os.ST_RDONLY else errno.EACCES
        return OSError(code, os.strerror(code), folder)
    free_mb = stats.f_bavail * stats.f_frsize / 1e6
    if min_free_mb is not None and free_mb < min_free_mb:
        return OSError(errno.ENOSPC, f"{free_mb:.0f} MB free, a run needs at least {min_free_mb:.0f} MB", folder)
    return None


def run_stage(log_path, func, /, *args, **kwargs):
    """Run one workflow stage with logging to ``log_path``.

    An :class:`~atompump.errors.AtompumpError` (bad input, bad config) is reported as its message alone, to
    the log and to stderr, and ends the process with status 1: the user sees what to fix, not a traceback. So is
    a full disk, a read-only file system or a folder the user may not write in (:func:`storage_error_message`);
    the writers are atomic (:mod:`atompump.io.atomic`), so such a stop leaves no half-written file. Any other
    exception is a bug and keeps its traceback.
    """
    import sys

    from atompump.errors import AtompumpError

    configure_logging(log_path)
    default_hook = sys.unraisablehook

    def quiet_storage_errors(unraisable):
        # h5py reports the same full disk again from objects it cannot flush while they are collected; the one
        # line below says it once
        if storage_errno(unraisable.exc_value) is None:
            default_hook(unraisable)

    sys.unraisablehook = quiet_storage_errors
    try:
        result = func(*args, **kwargs)
    except AtompumpError as exc:
        logging.getLogger("atompump").error("%s", exc)
        sys.exit(1)
    except (OSError, RuntimeError) as exc:
        if storage_errno(exc) is None:
            sys.unraisablehook = default_hook
            raise
        logging.getLogger("atompump").error("%s", storage_error_message(exc))
        sys.exit(1)  # the quiet hook stays: h5py's objects are collected while the process ends
    except BaseException:
        sys.unraisablehook = default_hook
        raise
    sys.unraisablehook = default_hook
    return result
