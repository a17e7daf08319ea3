"""Trends: the centre of mass, atom number and cloud width of every shot against acquisition time and any global.

Drifts (a creeping trap, a warming lattice beam) and calibration scans (a scanned probe detuning, a time of flight)
show as a trend of the per-shot numbers against the quantity that changes. One figure per quantity: against
acquisition time (from a time coordinate of ``com.nc``: :data:`TIME_NAMES`; acquisition ``order`` when the run has
no time, else the position in the run) and against each global named in ``report.trend_globals`` -- any
coordinate or variable of ``com.nc`` along ``shot`` (labscript globals are carried as such coordinates).

The centre shown is the centre of mass minus the pumped displacement of the fit, ``x - direction nu dl cycle - x0``
(reference shots are not pumped): the pump's sawtooth over an interleaved run would hide a drift of a fraction of a
micron, and what is left does not depend on ``nu`` at all, so these figures reveal nothing of it in a blind analysis
(with blinded centres and the blinded ``nu`` the difference is the same). Without a fit the raw centre is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import xarray as xr

from atompump.errors import ParameterError, literal

__all__ = ["TIME_NAMES", "TrendAxis", "acquisition_axis", "global_axis", "per_shot_names", "trend_figure",
           "unpumped_centre"]

# com.nc coordinates that hold a shot's acquisition time, in order of preference
TIME_NAMES = ("run_time", "acquisition_time", "time")
_TIME_FORMATS = ("%Y%m%dT%H%M%S", "%Y%m%dT%H%M%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f",
                 "%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class TrendAxis:
    """The quantity a trend figure's x axis shows.

    Attributes
    ----------
    name : str
        ``time``, ``order``, ``position`` or the global's name (the figure file is ``trend_<name>``).
    values : ndarray, shape (n_shot,)
        Numeric value per shot (NaN: missing; categories of a text global: their index).
    label : str
        Axis label with the unit.
    ticks : tuple of str
        Category names of a text or boolean global (empty for numbers).
    """

    name: str
    values: np.ndarray
    label: str
    ticks: tuple[str, ...] = ()


def per_shot_names(com: xr.Dataset) -> list[str]:
    """Names of every coordinate and variable of ``com`` along ``shot`` alone (coordinates first), the shot id
    excluded: what ``report.trend_globals`` may name."""
    coords = [str(n) for n in com.coords if n != "shot" and com[n].dims == ("shot",)]
    data = [str(n) for n in com.data_vars if com[n].dims == ("shot",)]
    return coords + data


def _parse_time(text: str) -> float:
    """Seconds since the epoch of a time stamp as labscript (``20261203T175253``) or ISO 8601 write it; NaN when
    empty or unreadable."""
    text = text.strip()
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).timestamp()
        except ValueError:
            continue
    return float("nan")


def _time_seconds(values: xr.DataArray) -> np.ndarray | None:
    """Acquisition times in seconds (any origin), or None when they cannot be read as times."""
    v = values.values
    if np.issubdtype(v.dtype, np.datetime64):
        seconds = (v - v.min()).astype("timedelta64[ns]").astype(float) * 1e-9
        return np.where(np.isnat(v), np.nan, seconds)
    if np.issubdtype(v.dtype, np.timedelta64):
        return v.astype("timedelta64[ns]").astype(float) * 1e-9
    if np.issubdtype(v.dtype, np.number):
        factor = {"s": 1.0, "ms": 1e-3, "min": 60.0, "h": 3600.0}.get(str(values.attrs.get("units", "s")))
        return None if factor is None else v.astype(float) * factor
    seconds = np.array([_parse_time(str(t)) for t in v.ravel()])
    return seconds if np.isfinite(seconds).any() else None


def acquisition_axis(com: xr.Dataset) -> TrendAxis:
    """Acquisition time in minutes since the run's first shot (the first of :data:`TIME_NAMES` that ``com`` has
    and that reads as times); else the acquisition ``order`` when every shot has one; else the position in the
    run."""
    for name in TIME_NAMES:
        if name in com.variables and com[name].dims == ("shot",):
            seconds = _time_seconds(com[name])
            if seconds is not None and np.isfinite(seconds).any():
                minutes = (seconds - np.nanmin(seconds)) / 60.0
                return TrendAxis("time", minutes, f"acquisition time (min since the first shot; {name})")
    if "order" in com.variables and np.all(np.asarray(com["order"].values, float) >= 0):
        return TrendAxis("time", np.asarray(com["order"].values, float), "acquisition order (no time recorded)")
    return TrendAxis("time", np.arange(com.sizes["shot"], dtype=float),
                     "position in the run (no acquisition time or order recorded)")


def global_axis(com: xr.Dataset, name: str, *, source: str = "com.nc") -> TrendAxis:
    """The per-shot global ``name`` of ``com`` as a trend axis.

    Numbers are taken as they are (NaN: missing, as labscript's null globals), booleans and text as categories.
    A global of the run table, carried as ``global_<name>``, may be named without the prefix.

    Raises
    ------
    ParameterError
        ``com`` has no per-shot coordinate or variable ``name``; the message lists those it has.
    """
    available = per_shot_names(com)
    if name not in available and f"global_{name}" in available:
        name = f"global_{name}"  # a labscript or manifest global, carried as global_<name> (atompump.io.shots)
    if name not in available:
        raise ParameterError(literal(f"{name!r} is not a per-shot global of {source}; available: "
                                     f"{', '.join(available) or 'none'}. ") + "Name one of these, or remove it from "
                             "{name}", parameters=("name",))
    values = com[name]
    unit = str(values.attrs.get("units", "")).strip()
    label = f"{name} ({unit})" if unit and unit != "1" else f"{name} ({'1' if unit else 'unit not recorded'})"
    raw = values.values
    if np.issubdtype(raw.dtype, np.datetime64) or np.issubdtype(raw.dtype, np.timedelta64):
        seconds = _time_seconds(values)
        return TrendAxis(name, seconds / 60.0, f"{name} (min since the first shot)")
    if raw.dtype != bool and np.issubdtype(raw.dtype, np.number):
        return TrendAxis(name, raw.astype(float), label)
    text = np.array(["" if v is None else str(v) for v in raw.ravel()])
    categories = tuple(sorted(set(text) - {""}))
    index = {c: float(i) for i, c in enumerate(categories)}
    return TrendAxis(name, np.array([index.get(t, np.nan) for t in text]), f"{name} (category)", ticks=categories)


def unpumped_centre(com: xr.Dataset, *, x_um: np.ndarray, nu: float | None, dl_um: float,
                    x0_um: float | None) -> tuple[np.ndarray, str]:
    """Each shot's centre minus the fit's pumped displacement and offset, ``x - direction nu dl cycle - x0`` (um),
    and the axis label; the raw centre when there is no fit (``nu`` None)."""
    x = np.asarray(x_um, float)
    if nu is None or not np.isfinite(nu):
        return x, "centre of mass (um)"
    reference = com["reference"].values.astype(bool) if "reference" in com.variables else np.zeros(x.size, bool)
    cycle = np.where(reference, 0.0, com.cycle.values.astype(float))
    pumped = com.direction.values.astype(float) * nu * dl_um * cycle
    return x - pumped - (x0_um if x0_um is not None and np.isfinite(x0_um) else 0.0), \
        "centre - pumped displacement - x0 (um)"


def trend_figure(com: xr.Dataset, axis: TrendAxis, *, centre_um: np.ndarray, centre_label: str):
    """Centre (``centre_um``, see :func:`unpumped_centre`), atom number and RMS cloud width (``width_um`` of
    ``com.nc``, when present) of every shot against ``axis``: used pumped shots by direction, reference shots,
    rejected shots as crosses; shots without a value of the axis are counted in the title."""
    from atompump.report.figures import DIRECTION_COLOURS, PALETTE, _figure

    panels = [(np.asarray(centre_um, float), centre_label),
              (com.atom_number.values.astype(float), "atom number (atoms)")]
    if "width_um" in com.variables:
        panels.append((com.width_um.values.astype(float), "RMS width along the pump axis (um)"))
    fig = _figure(5.4, 1.2 + 1.5 * len(panels))
    axes = np.atleast_1d(fig.subplots(len(panels), 1, sharex=True))
    used = com.used.values.astype(bool)
    reference = com["reference"].values.astype(bool) if "reference" in com.variables else np.zeros(used.size, bool)
    direction = com.direction.values
    t = axis.values
    known = np.isfinite(t)
    groups = [(used & ~reference & (direction == d), "o", DIRECTION_COLOURS[d], f"pumped, {'+' if d > 0 else '-'}phi")
              for d in (1, -1)]
    groups += [(used & reference, "s", PALETTE["green"], "reference (constant phi)"),
               (~used, "x", PALETTE["black"], "rejected")]
    for ax, (values, label) in zip(axes, panels):
        for sel, marker, colour, name in groups:
            sel = sel & known & np.isfinite(values)
            if sel.any():
                ax.plot(t[sel], values[sel], marker, ms=3, color=colour, alpha=0.7, label=name)
        ax.set_ylabel(label, fontsize=7)
    if axis.ticks:
        axes[-1].set_xticks(np.arange(len(axis.ticks)), axis.ticks, rotation=30, fontsize=7)
    axes[-1].set_xlabel(axis.label)
    axes[0].legend(loc="best", fontsize=6)
    missing = int((~known).sum())
    title = f"against {axis.label.split(' (')[0]}"
    if missing:
        title += f" ({missing} shot{'s' if missing > 1 else ''} without a value not shown)"
    axes[0].set_title(title)
    return fig
