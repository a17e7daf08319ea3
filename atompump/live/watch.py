"""``atompump watch``: poll a run's folder, analyse each shot as it lands, keep the dashboard up to date.

The loop: every ``poll_s`` seconds :meth:`~atompump.live.engine.LiveAnalysis.update` analyses the shots that
landed since the last poll and the dashboard is rewritten. It stops

* with ``once``: after analysing what is there now (no waiting for files to settle; with the final pass, that pass
  alone);
* after ``idle_timeout_s`` seconds without a new shot: the final pass, then exit;
* on Ctrl-C (KeyboardInterrupt): at once, the page left as it was last written (every write is atomic), with a
  note that the watcher stopped.

The final pass (:meth:`~atompump.live.engine.LiveAnalysis.finish`) analyses every shot as ``snakemake`` does.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from atompump.errors import AtompumpError
from atompump.live.dashboard import write_dashboard
from atompump.live.engine import LiveAnalysis

log = logging.getLogger(__name__)

__all__ = ["watch_run"]


def _footer(live: LiveAnalysis) -> str:
    state = live.state
    text = f"page written {time.strftime('%Y-%m-%d %H:%M:%S')}; {state.n_landed} shots in the run"
    if state.update_seconds:
        what = "the final pass" if state.final else "the last update"
        text += f"; {what} took {state.update_seconds[-1]:.2f} s"
    return text


def write_page(live: LiveAnalysis, page: str | os.PathLike, *, title: str, refresh_s: float,
               note: str = "") -> None:
    """Write the dashboard of ``live``'s current products to ``page`` (atomically)."""
    com, summary, fit = live.products()
    status = live.state.message + (f" -- {note}" if note else "")
    write_dashboard(page, com, summary, fit, title=title, status=status, final=live.state.final or bool(note),
                    refresh_s=refresh_s, footer=_footer(live))


def watch_run(config: Mapping[str, Any], out_dir: str | os.PathLike, *, folder: str | os.PathLike | None = None,
              once: bool = False,
              idle_timeout_s: float | None = None, poll_s: float = 1.0, refresh_s: float = 5.0,
              final_pass: bool = True, sleep: Callable[[float], None] = time.sleep, **options) -> LiveAnalysis:
    """Watch a run (``config['data']``: :func:`atompump.live.engine.run_data_section`) until it ends.

    Parameters
    ----------
    config : mapping
        A complete config (defaults filled in).
    out_dir : path
        The live products and ``dashboard.html``.
    folder : path, optional
        The run's folder (or manifest): ``config['data']`` is derived from it at every look
        (:func:`atompump.live.engine.run_data_section`); default: ``config['data']`` as it is.
    once : bool
        Analyse what is there now and stop.
    idle_timeout_s : float, optional
        Stop after this many seconds without a new shot (None: run until Ctrl-C).
    poll_s : float
        Seconds between looks at the folder.
    refresh_s : float
        The page's reload interval in the browser, s.
    final_pass : bool
        Analyse every shot once more as the batch workflow does before stopping (not on Ctrl-C).
    options
        Passed to :class:`~atompump.live.engine.LiveAnalysis` (``theory_json``, ``settle_s``, ``min_shots``,
        ``rebuild_factor``, ``rebuild_every``).

    Returns
    -------
    LiveAnalysis
        Its ``state`` and products (for scripts and tests).
    """
    out = Path(out_dir)
    page = out / "dashboard.html"
    title = str((config.get("report") or {}).get("title") or "atompump")
    live = LiveAnalysis(config, out, folder=folder, **options)
    write_page(live, page, title=title, refresh_s=refresh_s)
    last_new = time.monotonic()
    shown = live.state.message
    try:
        while not (once and final_pass):  # --once with the final pass: the final pass alone analyses every shot
            if live.update(force=once):
                last_new = time.monotonic()
                write_page(live, page, title=title, refresh_s=refresh_s)
                log.info("%s", live.state.message)
                continue  # more shots may have landed meanwhile
            if once:
                break
            if idle_timeout_s is not None and time.monotonic() - last_new >= idle_timeout_s:
                log.info("no new shot for %.0f s: the run has ended", idle_timeout_s)
                if not final_pass:  # shots whose files never settled: analysed (or rejected) as they are
                    live.update(force=True)
                break
            if live.state.message != shown:  # e.g. "waiting for 5 shots": the figures are not redrawn while idle
                write_page(live, page, title=title, refresh_s=refresh_s)
            shown = live.state.message
            sleep(poll_s)
        if final_pass:
            live.state.message = "the run has ended: final pass over every shot (as the batch workflow) ..."
            write_page(live, page, title=title, refresh_s=refresh_s)
            try:
                if not live.finish() and not live.state.final:
                    live.state.message = f"the run has ended: {live.state.n_landed} shots found, none analysed"
            except AtompumpError as exc:  # the page keeps the live numbers and says why there is no final pass
                live.state.message = f"the final pass failed: {str(exc).splitlines()[0]}"
                log.error("%s", live.state.message)
        write_page(live, page, title=title, refresh_s=refresh_s,
                   note="" if live.state.final else "the watcher has stopped")
    except KeyboardInterrupt:
        log.info("stopped (Ctrl-C); the dashboard shows the last update")
        write_page(live, page, title=title, refresh_s=refresh_s, note="the watcher was stopped (Ctrl-C)")
    return live
