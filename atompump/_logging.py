"""Logging set-up shared by the command line and the workflow adapters."""

from __future__ import annotations

import logging
import os

__all__ = ["configure_logging", "run_stage"]

_FORMAT = "%(levelname)s %(name)s: %(message)s"


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
