"""The self-contained HTML report: figures embedded as base64 PNG, inline CSS, no scripts or external links."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["render_report"]

_CSS = """
body { font-family: sans-serif; max-width: 62em; margin: 2em auto; padding: 0 1em; color: #111; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-family: monospace; }
.summary { background: #f5f9ff; border: 1px solid #9bc; padding: 0.8em 1em; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #333; } img { max-width: 100%; }
.warn { color: #a40; } pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; font-size: 0.85em; }
"""


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            cls = ' class="num"' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _embed_png(path: str | os.PathLike) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _provenance(provenance: Mapping[str, object]) -> str:
    parts, simple = [], []
    for key, value in provenance.items():
        if isinstance(value, Mapping):
            parts.append(f"<h3>{html.escape(key)}</h3>" + _table(list(value.items()), ["item", "value"]))
        elif isinstance(value, str) and "\n" in value:
            parts.append(f"<h3>{html.escape(key)}</h3><pre>{html.escape(value)}</pre>")
        else:
            simple.append((key, value))
    return _table(simple, ["item", "value"]) + "".join(parts)


def render_report(
    *,
    title: str,
    headline: str,
    summary_rows: Sequence[tuple[str, object, str]],
    figures: Sequence[tuple[str | os.PathLike, str, str]],
    rejected: Sequence[tuple[str, str, str]],
    notes: Sequence[str] = (),
    tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[object]]]] = (),
    provenance: Mapping[str, object] | None = None,
) -> str:
    """Render the report as one HTML string.

    Parameters
    ----------
    title : str
    headline : str
        One sentence stating the result.
    summary_rows : sequence of (name, value, unit)
    figures : sequence of (png_path, title, caption)
    rejected : sequence of (shot, cause, reason)
        The cause is the code of :class:`atompump.reasons.RejectCause`.
    notes : sequence of str
        Warnings and remarks shown in the summary box (e.g. scaled errors).
    tables : sequence of (heading, header, rows)
        Further tables after the summary (model comparison, differential analyses, ...).
    provenance : mapping, optional
        Key/value table; nested mappings become sub-tables, multi-line strings preformatted blocks.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<div class="summary"><p><strong>{html.escape(headline)}</strong></p>',
        _table([(n, v, u) for n, v, u in summary_rows], ["quantity", "value", "unit"]),
    ]
    parts += [f'<p class="warn">{"<br>".join(html.escape(line) for line in note.splitlines())}</p>' for note in notes]
    parts.append("</div>")
    for heading, header, rows in tables:
        parts.append(f"<h2>{html.escape(heading)}</h2>" + _table(rows, header))
    parts.append("<h2>Figures</h2>")
    for path, fig_title, caption in figures:
        parts.append(
            f"<h3>{html.escape(fig_title)}</h3>"
            f'<figure><img src="{_embed_png(path)}" alt="{html.escape(fig_title)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts.append(f"<h2>Rejected shots ({len(rejected)})</h2>")
    if rejected:
        parts.append(_table(list(rejected), ["shot", "cause", "reason"]))
    else:
        parts.append("<p>None: every shot passed the quality cuts.</p>")
    if provenance:
        parts.append("<h2>Provenance</h2>" + _provenance(provenance))
    parts.append("</body></html>\n")
    return "\n".join(parts)
