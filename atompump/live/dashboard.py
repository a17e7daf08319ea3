"""The live dashboard: one static HTML page that a browser reloads by itself (``<meta http-equiv="refresh">``).

No server and no scripts: the page is rewritten atomically (:func:`atompump.io.atomic.write_text`) after every
update, so a reload never shows half a page, and it opens from the disk (``file://``). Figures are embedded PNGs.
It shows the headline nu with its error and the theory, the centre of mass against pump cycles with the fit so far,
atom number and cloud width against shot number (rejected shots marked), and every rejected shot with its reason.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Mapping

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from atompump.io.atomic import write_text
from atompump.report.figures import DIRECTION_COLOURS, PALETTE

__all__ = ["dashboard_figure", "render_dashboard", "write_dashboard"]

_CSS = """
body { font-family: sans-serif; max-width: 72em; margin: 1em auto; padding: 0 1em; color: #111; }
h1 { font-size: 1.35em; margin-bottom: 0.2em; } h2 { font-size: 1.1em; border-bottom: 1px solid #ccc; }
.status { color: #444; margin: 0 0 0.8em 0; } .estimator { font-size: 0.9em; color: #333; }
.badge { font-size: 0.75em; padding: 0.1em 0.45em; border-radius: 0.3em; color: #fff; vertical-align: middle; }
.badge.live { background: #0072B2; } .badge.final { background: #009E73; }
.headline { display: flex; flex-wrap: wrap; gap: 0.6em; margin: 0.6em 0; }
.box { background: #f5f9ff; border: 1px solid #9bc; padding: 0.5em 0.9em; min-width: 9em; }
.box .label { font-size: 0.85em; color: #345; } .box .value { font-size: 1.5em; font-family: monospace; }
.box.nu .value { font-size: 2.1em; font-weight: bold; }
.warn { color: #a40; } table { border-collapse: collapse; margin: 0.4em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; vertical-align: top; } th { background: #f3f3f3; }
img { max-width: 100%; } footer { color: #666; font-size: 0.85em; margin-top: 1.5em; }
"""


def _shot_number(com: xr.Dataset) -> tuple[np.ndarray, str]:
    """Each shot's number on the time axis: the acquisition order when every shot has one, else the run order."""
    n = com.sizes["shot"]
    order = np.asarray(com["order"].values) if "order" in com.variables else np.full(n, -1)
    if n and np.all(order >= 0):
        return order.astype(float), "shot number (acquisition order)"
    return np.arange(n, dtype=float), "shot number (run order)"


def dashboard_figure(com: xr.Dataset, fit: xr.Dataset | None, summary: Mapping | None, *,
                     final: bool = False) -> Figure:
    """Three panels: centre of mass against pump cycles with the fit so far (used pumped shots, both directions;
    reference shots green), atom number and cloud width against shot number (rejected shots as vermillion crosses)."""
    fig = Figure(figsize=(12.0, 3.6))  # a fixed layout: the constrained one would double the page's cost
    FigureCanvasAgg(fig)
    ax_com, ax_n, ax_w = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.3, 1, 1], "left": 0.06, "right": 0.99,
                                                         "bottom": 0.14, "top": 0.92, "wspace": 0.3})
    used = com.used.values.astype(bool)
    reference = com["reference"].values.astype(bool) if "reference" in com.variables else np.zeros(used.size, bool)
    cycle, direction = com.cycle.values.astype(float), com.direction.values.astype(int)
    x, err = com.x_com_um.values, com.x_com_err_um.values
    for d in (1, -1):
        sel = used & ~reference & (direction == d)
        if sel.any():
            ax_com.errorbar(cycle[sel] + 0.04 * d, x[sel], yerr=err[sel], fmt="o", ms=3.5, capsize=2,
                            color=DIRECTION_COLOURS[d], label=f"direction {d:+d} ({int(sel.sum())} shots)")
    if (used & reference).any():
        sel = used & reference
        ax_com.errorbar(cycle[sel], x[sel], yerr=err[sel], fmt="s", ms=3, capsize=2, color=PALETTE["green"],
                        label=f"reference ({int(sel.sum())})")
    if fit is not None and "x_model_um" in fit and summary and summary.get("fit_possible"):
        model = fit.x_model_um.values
        for d in (1, -1):
            sel = np.isfinite(model) & (direction == d)
            if sel.any():
                order = np.argsort(cycle[sel])
                ax_com.plot(cycle[sel][order], model[sel][order], "-", color=DIRECTION_COLOURS[d], lw=1.2)
        ax_com.plot([], [], "-", color=PALETTE["black"], lw=1.2, label="fit" if final else "fit so far")
    ax_com.set_xlabel("pump cycles")
    ax_com.set_ylabel(f"centre of mass, {com.attrs.get('estimator', 'headline')} estimator (um)")
    ax_com.set_title("centre of mass against pump cycles")
    if ax_com.get_legend_handles_labels()[0]:  # +1 rises to the right, -1 falls: the upper left stays clear
        ax_com.legend(loc="upper left", frameon=True, framealpha=0.85, fontsize=8)
    number, label = _shot_number(com)
    rejected = ~used
    atoms = com.atom_number.values
    width = com["width_um"].values if "width_um" in com.variables else np.full(used.size, np.nan)
    for ax, values, name, title in ((ax_n, atoms, "atom number", "atom number"),
                                    (ax_w, width, "RMS width along the pump axis (um)", "cloud width")):
        ax.plot(number[used], values[used], "o", ms=3.5, color=PALETTE["blue"], label="used")
        bad = rejected & np.isfinite(values)
        if bad.any():
            ax.plot(number[bad], values[bad], "x", ms=6, mew=1.5, color=PALETTE["vermillion"], label="rejected")
        ax.set_xlabel(label)
        ax.set_ylabel(name)
        ax.set_title(f"{title} against shot number")
        if bad.any():
            ax.legend(loc="best", frameon=True, framealpha=0.85, fontsize=8)
    return fig


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _number(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def render_dashboard(com: xr.Dataset | None, summary: Mapping | None, fit: xr.Dataset | None, *, title: str,
                     status: str, final: bool = False, refresh_s: float = 5.0, footer: str = "",
                     max_rejected_rows: int = 200) -> str:
    """The dashboard page as HTML text (see the module docstring).

    Parameters
    ----------
    com, summary, fit
        ``com.nc``, ``summary.json`` and ``fit.nc`` of the shots so far (None before the first analysis).
    title : str
        The page's title (``report.title``).
    status : str
        What the analysis is doing (shown under the title).
    final : bool
        The shown numbers are the final pass (the batch analysis); the page then stops reloading itself.
    refresh_s : float
        The browser reloads the page every this many seconds while the run goes on.
    footer : str
        A line at the bottom (last update, update time).
    max_rejected_rows : int
        Rejected shots listed (the most recent first); the rest are counted.
    """
    esc = html.escape
    refresh = "" if final else f'<meta http-equiv="refresh" content="{max(1, round(refresh_s))}">'
    badge = '<span class="badge final">FINAL</span>' if final else '<span class="badge live">LIVE</span>'
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', refresh,
             f"<title>{esc(title)} ({'final' if final else 'live'})</title><style>{_CSS}</style></head><body>",
             f"<h1>{badge} {esc(title)}</h1>",
             f'<p class="status">{esc(status)}</p>']
    if com is None or summary is None:
        parts.append("<p>No shot analysed yet. This page reloads itself; the first numbers appear once enough "
                     "shots have landed.</p>")
    else:
        parts.append(_headline(com, summary))
        fig = dashboard_figure(com, fit, summary, final=final)
        parts.append(f'<img alt="centre of mass against pump cycles with the fit; atom number and cloud width '
                     f'against shot number" src="data:image/png;base64,{_png(fig)}">')
        parts.append(_rejected(com, max_rows=max_rejected_rows, final=final))
    if footer:
        parts.append(f"<footer>{esc(footer)}</footer>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def _headline(com: xr.Dataset, summary: Mapping) -> str:
    esc = html.escape
    n_shots, n_used = int(summary.get("n_shots", com.sizes["shot"])), int(summary.get("n_used", 0))
    boxes = []
    if summary.get("fit_possible"):
        nu, err = summary["nu"], summary["nu_err"]
        boxes.append(("nu", "nu (displacement per cycle / dl)", f"{_number(nu)} &plusmn; {_number(err)}"))
        dl = summary.get("dl_um")
        boxes.append(("", "displacement per cycle", f"{_number(summary.get('displacement_per_cycle_um'), 3)} "
                      f"&plusmn; {_number(summary.get('displacement_per_cycle_err_um'), 3)} um"
                      + (f" <span class=\"label\">(dl = {dl:.3f} um)</span>" if dl else "")))
        theory = f"C = {summary.get('chern_number')}, nu = {_number(summary.get('nu_theory'), 3)}"
        boxes.append(("", "theory: Chern number", theory))
        boxes.append(("", "measured - theory", f"{_number(summary.get('deviation_sigma'), 1)} sigma"))
        chi2 = _number(summary.get("reduced_chi2"), 2)
        boxes.append(("", "reduced chi^2 of the fit", chi2 + (' <span class="label">(error scaled by its root)</span>'
                                                             if summary.get("errors_scaled") else "")))
    boxes.append(("", "shots used / analysed", f"{n_used} / {n_shots}"))
    html_boxes = "".join(f'<div class="box {cls}"><div class="label">{esc(label)}</div>'
                         f'<div class="value">{value}</div></div>' for cls, label, value in boxes)
    out = f'<div class="headline">{html_boxes}</div>'
    if not summary.get("fit_possible"):
        out += f'<p class="warn">No fit yet: {esc(str(summary.get("fit_message") or "too few used shots"))}</p>'
    if com.attrs.get("estimator"):
        out += (f"<p class=\"estimator\">Centre-of-mass estimator: <b>{esc(str(com.attrs['estimator']))}</b> "
                f"({esc(str(com.attrs.get('estimator_reason', '')))})</p>")
    return out


def _rejected(com: xr.Dataset, *, max_rows: int, final: bool = False) -> str:
    esc = html.escape
    reasons = [str(r) for r in com.reject_reason.values]
    shots = [str(s) for s in com.shot.values]
    number, _ = _shot_number(com)
    rows = [(int(number[i]), shots[i], reasons[i]) for i in range(len(shots)) if reasons[i]]
    if not rows:
        return f"<h2>Rejected shots</h2><p>{'None.' if final else 'None so far.'}</p>"
    rows.sort(key=lambda row: -row[0])  # the most recent first
    body = "".join(f"<tr><td>{n}</td><td>{esc(s)}</td><td>{esc(r)}</td></tr>" for n, s, r in rows[:max_rows])
    more = f"<p>... and {len(rows) - max_rows} more.</p>" if len(rows) > max_rows else ""
    return (f"<h2>Rejected shots ({len(rows)})</h2><table><tr><th>shot number</th><th>shot</th><th>reason</th></tr>"
            f"{body}</table>{more}")


def write_dashboard(path: str | os.PathLike, com: xr.Dataset | None, summary: Mapping | None,
                    fit: xr.Dataset | None, **kwargs) -> None:
    """:func:`render_dashboard` written atomically to ``path`` (a reload never sees half a page)."""
    write_text(path, render_dashboard(com, summary, fit, **kwargs))
