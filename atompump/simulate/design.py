"""Run design as in the experiments: which shots are taken, and in which order.

A shot is one experimental sequence ending in an in-situ image. Pumped shots ramp phi over ``cycle`` cycles in
``direction``; a reference shot (Lohse et al.'s differential scheme) lasts as long as the pumped sequence it
accompanies (``sequence_cycles`` cycle periods) but holds phi constant, so it completes 0 pump cycles: it is
recorded with ``cycle = 0``, ``reference = true`` and the ``sequence_cycles`` and ``direction`` of its pumped
partner (same ``repeat``), which pairs them for a differential analysis.

Orders
------
'interleaved'
    repeat by repeat; within a repeat, cycle by cycle, each direction in turn, each pumped shot followed by its
    reference.
'random'
    every shot of the run in an order drawn from the run's seed.

Shot ids are ``s00000, s00001, ...`` in acquisition order, and ``order`` records that index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atompump.errors import ParameterError
from atompump.io.protocol import FIELDS

__all__ = ["ORDERS", "RunDesign", "design_shots", "shot_count"]

ORDERS = ("interleaved", "random")


def shot_count(*, cycles: Sequence[float], directions: Sequence[int], repeats: int, references: bool) -> int:
    """Number of shots of a design (pumped shots, plus one reference per pumped shot with cycle > 0)."""
    pumped = len(cycles) * len(directions)
    refs = sum(1 for c in cycles if c > 0) * len(directions) if references else 0
    return (pumped + refs) * int(repeats)


def design_shots(*, cycles: Sequence[float], directions: Sequence[int], repeats: int, references: bool = False,
                 order: str = "interleaved", seed: int = 0) -> list[dict[str, object]]:
    """The acquisition sequence.

    Returns
    -------
    list of dict
        In acquisition order, with keys ``shot``, ``order``, ``cycle``, ``direction``, ``reference``, ``repeat``,
        ``sequence_cycles``.
    """
    if order not in ORDERS:
        raise ParameterError(f"{{order}}: {order!r} is not allowed; allowed values: {list(ORDERS)}",
                             parameters=("order",))
    if repeats < 1:
        raise ParameterError(f"{{repeats}} must be >= 1, got {repeats}", parameters=("repeats",))
    entries = []
    for repeat in range(int(repeats)):
        for cycle in cycles:
            for direction in directions:
                entries.append({"cycle": float(cycle), "direction": int(direction), "reference": False,
                                "repeat": repeat, "sequence_cycles": float(cycle)})
                if references and cycle > 0:
                    entries.append({"cycle": 0.0, "direction": int(direction), "reference": True,
                                    "repeat": repeat, "sequence_cycles": float(cycle)})
    if order == "random":
        perm = np.random.default_rng([int(seed), 0x5EED]).permutation(len(entries))
        entries = [entries[i] for i in perm]
    for i, entry in enumerate(entries):
        entry["shot"] = f"s{i:05d}"
        entry["order"] = i
    return [{k: e[k] for k in ("shot", *FIELDS)} for e in entries]


@dataclass(frozen=True)
class RunDesign:
    """Which shots a run takes and in which order (see the module's description).

    Attributes
    ----------
    seed : int
        The run's random seed (the 'random' order is drawn from it).
    cycles : tuple of float
        Pump cycles completed at imaging.
    directions : tuple of int
        Pump directions, each +1 or -1.
    repeats : int
        Shots per (cycle, direction) pair.
    references : bool
        A reference shot after each pumped shot with cycle > 0.
    order : {'interleaved', 'random'}
    """

    seed: int
    cycles: tuple[float, ...]
    directions: tuple[int, ...]
    repeats: int
    references: bool
    order: str

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ParameterError(f"{{repeats}} must be >= 1, got {self.repeats}", parameters=("repeats",))
        if not self.cycles:
            raise ParameterError("{cycles} must list at least one number of pump cycles", parameters=("cycles",))
        if not self.directions or any(d not in (1, -1) for d in self.directions):
            raise ParameterError(f"{{directions}} must be a non-empty list of +1/-1, got {list(self.directions)}",
                                 parameters=("directions",))
        if self.order not in ORDERS:
            raise ParameterError(f"{{order}} must be one of {list(ORDERS)}, got {self.order!r}",
                                 parameters=("order",))

    def shots(self) -> list[dict[str, object]]:
        """The acquisition sequence: :func:`design_shots`."""
        return design_shots(cycles=self.cycles, directions=self.directions, repeats=self.repeats,
                            references=self.references, order=self.order, seed=self.seed)

    def count(self) -> int:
        """Number of shots: :func:`shot_count`."""
        return shot_count(cycles=self.cycles, directions=self.directions, repeats=self.repeats,
                          references=self.references)
