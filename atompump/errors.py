"""Exceptions raised by atompump.

Every error a user can cause (bad configuration, unreadable data, a physically meaningless parameter) is raised
as one of these, with a message that names the offending key, file or shot and says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

__all__ = ["AtompumpError", "ConfigError", "InputDataError", "BadShotsError", "FitNotPossibleError", "GapClosedError",
           "ParameterError", "StorageError", "literal"]


class AtompumpError(Exception):
    """Base class of all atompump errors."""


class ConfigError(AtompumpError, ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class ParameterError(AtompumpError, ValueError):
    """A library parameter has a value the library cannot use; the message names the parameter, not a config key.

    The library knows its own parameters, not where a caller took them from: ``message`` may hold ``{name}``
    placeholders for the parameters it names (``parameters``). ``str(error)`` fills in the library's own names
    (what a notebook user passed); the configuration boundary (:func:`atompump.config.config_keys`) fills in the
    config keys instead (``simulation.pump.cells``) and raises :class:`ConfigError`. Errors that name config keys
    are raised there only.

    Parameters
    ----------
    message
        The text, with ``{name}`` for each parameter of ``parameters`` it names.
    parameters
        The library parameter names the message is about (the first is the one to change).

    Examples
    --------
    >>> str(ParameterError("the cloud reaches the grid's edge: raise {cells}", parameters=("cells",)))
    "the cloud reaches the grid's edge: raise cells"
    """

    def __init__(self, message: str, *, parameters: tuple[str, ...] | list[str]) -> None:
        self.template = str(message)
        self.parameters = tuple(parameters)
        super().__init__(self.render({}))

    def render(self, names: Mapping[str, str]) -> str:
        """The message with each parameter named by ``names`` (parameter -> name), else by its own name."""
        return _filled(self.template, self.parameters, names)


def _filled(template: str, parameters: tuple[str, ...], names: Mapping[str, str]) -> str:
    """``template`` with each ``{parameter}`` replaced by its name in ``names``, else by itself."""
    return template.format(**{p: names.get(p, p) for p in parameters})


def literal(text: str) -> str:
    """``text`` for a :class:`ParameterError` message, its braces kept as text (not placeholders): paths, values.

    >>> str(ParameterError("{pattern}: no file matches " + literal("'{a,b}.h5'"), parameters=("pattern",)))
    "pattern: no file matches '{a,b}.h5'"
    """
    return str(text).replace("{", "{{").replace("}", "}}")


#: The names the configuration boundary gives the library's parameters while it runs library code
#: (:func:`atompump.config.config_keys` sets it): a data problem found inside, written down as a shot's reason
#: there, names the config key (``data.frames.orientation``); outside, the library's own name (``orientation``).
PARAMETER_NAMES: ContextVar[Mapping[str, str]] = ContextVar("atompump_parameter_names", default={})


class InputDataError(AtompumpError, ValueError):
    """An input file cannot be used (unreadable, truncated, wrong shape or dtype, ...).

    ``cause``: the :class:`atompump.reasons.RejectCause` of a shot rejected for it (given where the cause is
    found; a message that is a :class:`atompump.reasons.Reason` gives its own); None when not given.
    ``parameters``: the library parameters the message names as ``{name}`` placeholders (what to change, e.g.
    ``{orientation}``), each shown as the configuration boundary names it (:data:`PARAMETER_NAMES`, or the names
    the boundary gave the error on its way out, ``names``), else by its own name.
    """

    def __init__(self, *args: object, cause: object = None, parameters: tuple[str, ...] = ()) -> None:
        super().__init__(*args)
        self.cause = cause or (getattr(args[0], "cause", None) if args else None)
        self.parameters = tuple(parameters)
        self.names: dict[str, str] = {}

    @property
    def template(self) -> str:
        """The message with its placeholders, as :attr:`ParameterError.template` (braces of a message without
        parameters kept as text)."""
        return str(self.args[0]) if self.parameters else literal(super().__str__())

    def render(self, names: Mapping[str, str]) -> str:
        """The message with each parameter named by ``names``, else by its own name (:meth:`ParameterError.render`)."""
        return _filled(self.template, self.parameters, names) if self.parameters else super().__str__()

    def __str__(self) -> str:
        return self.render({**PARAMETER_NAMES.get(), **self.names})


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
