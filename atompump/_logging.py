"""Logging set-up shared by the command line and the workflow adapters."""

from __future__ import annotations

import logging
import math
import os

__all__ = ["Progress", "configure_logging", "run_stage"]

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
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format=_FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)


def run_stage(log_path, func, /, *args, **kwargs):
    """Run one workflow stage with logging to ``log_path``.

    An :class:`~atompump.errors.AtompumpError` (bad input, bad config) is reported as its message alone, to
    the log and to stderr, and ends the process with status 1: the user sees what to fix, not a traceback.
    Any other exception is a bug and keeps its traceback.
    """
    import sys

    from atompump.errors import AtompumpError

    configure_logging(log_path)
    try:
        return func(*args, **kwargs)
    except AtompumpError as exc:
        logging.getLogger("atompump").error("%s", exc)
        sys.exit(1)
