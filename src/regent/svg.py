"""Small pictures for the status pages, drawn on the server as SVG (ground): no script, no external asset.

Each function returns the markup of one <svg> element; every text in it is escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BAR_H, BAR_GAP, LABEL_W, BAR_W = 18, 4, 220, 360


def bars(items: Sequence[tuple[str, float]], *, title: str, unit: str = "") -> str:
    """Horizontal bars, one per (label, value), scaled to the largest."""
    if not items:
        return _empty(title)
    top = max(value for _, value in items) or 1
    height = len(items) * (BAR_H + BAR_GAP) + 24
    parts = [_open(LABEL_W + BAR_W + 80, height, title)]
    parts.append(f'<text x="0" y="14" class="svg-title">{escape(title)}</text>')
    for i, (label, value) in enumerate(items):
        y = 22 + i * (BAR_H + BAR_GAP)
        width = max(1.0, BAR_W * value / top)
        parts.append(f'<text x="{LABEL_W - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
        parts.append(
            f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_H}" class="svg-bar">'
            f"<title>{escape(label)}: {_num(value)}{escape(unit)}</title></rect>"
        )
        parts.append(f'<text x="{LABEL_W + width + 6:.1f}" y="{y + 13}">{_num(value)}{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def chart(series: Sequence[tuple[str, Sequence[float]]], *, title: str, span: str) -> str:
    """A small line chart of equally spaced samples, oldest left; one line per (name, values)."""
    width, height, left, bottom = 560, 150, 50, 20
    values = [v for _, vs in series for v in vs]
    if not values:
        return _empty(title)
    top = max(values) or 1
    parts = [_open(width, height + 30, title)]
    parts.append(f'<text x="0" y="14" class="svg-title">{escape(title)}</text>')
    plot_w, plot_h = width - left - 10, height - bottom - 10
    y0 = 20 + plot_h
    parts.append(f'<line x1="{left}" y1="{y0}" x2="{left + plot_w}" y2="{y0}" class="svg-axis"/>')
    parts.append(f'<line x1="{left}" y1="20" x2="{left}" y2="{y0}" class="svg-axis"/>')
    parts.append(f'<text x="{left - 4}" y="28" text-anchor="end">{_num(top)}</text>')
    parts.append(f'<text x="{left - 4}" y="{y0}" text-anchor="end">0</text>')
    parts.append(f'<text x="{left}" y="{y0 + 16}">{escape(span)} ago</text>')
    parts.append(f'<text x="{left + plot_w}" y="{y0 + 16}" text-anchor="end">now</text>')
    for n, (name, vs) in enumerate(series):
        if not vs:
            continue
        step = plot_w / max(1, len(vs) - 1)
        points = " ".join(f"{left + i * step:.1f},{y0 - plot_h * v / top:.1f}" for i, v in enumerate(vs))
        parts.append(
            f'<polyline points="{points}" class="svg-line svg-line-{n}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        parts.append(
            f'<text x="{left + 10 + n * 200}" y="{height + 26}" class="svg-legend-{n}">'
            f"&#9632; {escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
    )


def _empty(title: str) -> str:
    return _open(400, 30, title) + f'<text x="0" y="20">{escape(title)}: nothing to draw</text></svg>'


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2f}"
