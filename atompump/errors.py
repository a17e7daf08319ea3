"""Exceptions raised by atompump.

Every error a user can cause (bad configuration, unreadable data, a physically meaningless parameter) is raised
as one of these, with a message that names the offending key, file or shot and says what to do.
"""

from __future__ import annotations

__all__ = ["AtompumpError", "ConfigError", "InputDataError", "BadShotsError", "FitNotPossibleError", "GapClosedError",
           "StorageError"]


class AtompumpError(Exception):
    """Base class of all atompump errors."""


class ConfigError(AtompumpError, ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class InputDataError(AtompumpError, ValueError):
    """An input file cannot be used (unreadable, truncated, wrong shape or dtype, ...).

    ``cause``: the :class:`atompump.reasons.RejectCause` of a shot rejected for it (given where the cause is
    found; a message that is a :class:`atompump.reasons.Reason` gives its own); None when not given.
    """

    def __init__(self, *args: object, cause: object = None) -> None:
        super().__init__(*args)
        self.cause = cause or (getattr(args[0], "cause", None) if args else None)


class BadShotsError(InputDataError):
    """One or more shots of a run cannot be analysed.

    Parameters
    ----------
    problems
        ``(shot, reason)`` pairs, one per bad shot, in the order they were found.
    hint
        What the user can do about it.
    """

    def __init__(self, problems: list[tuple[str, str]], hint: str = "") -> None:
        self.problems = list(problems)
        lines = [f"{len(self.problems)} bad shot(s):"]
        lines += [f"  shot {shot}: {reason}" for shot, reason in self.problems]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


class FitNotPossibleError(AtompumpError, ValueError):
    """Too few shots passed the quality cuts (or they do not constrain the model) for the configured fit.

    Raised before any fit is attempted; the message gives the rejections counted by reason, the first shots of each
    reason and where to look (``results/com/com.nc``, the report's table of rejected shots).
    """


class GapClosedError(AtompumpError, ArithmeticError):
    """A band gap closes on the pump loop, so the band's Chern number is undefined."""


class StorageError(AtompumpError, OSError):
    """Outputs cannot be written: a full disk, a read-only file system or a folder the user may not write in.

    The message (:func:`atompump._logging.storage_error_message`) names the folder or file and what to do.
    """
