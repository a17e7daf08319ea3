"""Packages whose names are imported on first use (PEP 562).

A job imports only what its own stage needs, and the workflow's plan (built before any job) imports none of the
numerical code: ``atompump.stages``, ``atompump.simulate``, ``atompump.io`` and ``atompump.report`` list where
each of their names lives and hand the lookup to :func:`lazy_names`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module

__all__ = ["lazy_names"]


def lazy_names(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``, whose name ``n`` is ``where[n]``'s attribute ``n``
    (``where[n]`` a submodule's name relative to ``package``, or an absolute module name); a name is imported the
    first time it is asked for and then kept in the package."""

    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        home = where[name]
        value = getattr(import_module(home if home.startswith("atompump.") else f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
