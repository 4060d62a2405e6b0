"""Small server-side SVG charts for the admin dashboard (donut, horizontal bars, grouped columns); text is escaped."""

from __future__ import annotations

import math

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLOURS = {"hot": "#d93025", "warm": "#f29900", "cold": "#1a73e8", "hit": "#188038", "miss": "#9aa0a6",
           "evict": "#d93025", "archive": "#1a73e8", "rehydrate": "#f29900", "summarise": "#9334e6",
           "embed": "#12b5cb", "purge": "#5f6368", "raw": "#9aa0a6", "stored": "#1a73e8"}


def _svg(width: int, height: int, body: list[str], title: str) -> SafeString:
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def donut(segments: list[tuple[str, float, str]], *, title: str, centre: str = "", size: int = 180) -> SafeString:
    """A ring split by value, with a legend on the right; ``segments`` are (label, value, colour)."""
    total = sum(value for _, value, _ in segments)
    radius, stroke = size / 2 - 18, 26
    cx = cy = size / 2
    circumference = 2 * math.pi * radius
    body = [f'<circle cx="{cx}" cy="{cy}" r="{radius:.1f}" fill="none" stroke="#eee" stroke-width="{stroke}"/>']
    offset = 0.0
    for label, value, colour in segments:
        if total <= 0 or value <= 0:
            continue
        length = circumference * value / total
        body.append(
            f'<circle cx="{cx}" cy="{cy}" r="{radius:.1f}" fill="none" stroke="{colour}" stroke-width="{stroke}" '
            f'stroke-dasharray="{length:.2f} {circumference - length:.2f}" stroke-dashoffset="{-offset:.2f}" '
            f'transform="rotate(-90 {cx} {cy})"><title>{escape(label)}: {value:g}</title></circle>'
        )
        offset += length
    body.append(f'<text x="{cx}" y="{cy + 5}" text-anchor="middle" style="font-size:16px;font-weight:bold">{escape(centre)}</text>')
    for index, (label, value, colour) in enumerate(segments):
        y = 24 + index * 22
        share = f" ({100 * value / total:.0f}%)" if total else ""
        body.append(f'<rect x="{size + 10}" y="{y - 11}" width="14" height="14" fill="{colour}"/>')
        body.append(f'<text x="{size + 30}" y="{y}">{escape(label)}: {value:g}{share}</text>')
    return _svg(size + 190, size, body, title)


def hbars(rows: list[tuple[str, float, str, str]], *, title: str, width: int = 380) -> SafeString:
    """Horizontal bars scaled to the largest value; ``rows`` are (label, value, colour, value text)."""
    top = max((value for _, value, _, _ in rows), default=0) or 1
    label_width, bar_height, gap = 70, 22, 10
    body = []
    for index, (label, value, colour, text) in enumerate(rows):
        y = index * (bar_height + gap) + 4
        length = (width - label_width - 90) * value / top
        body.append(f'<text x="0" y="{y + 15}">{escape(label)}</text>')
        body.append(f'<rect x="{label_width}" y="{y}" width="{max(length, 1):.1f}" height="{bar_height}" fill="{colour}"/>')
        body.append(f'<text x="{label_width + length + 6:.1f}" y="{y + 15}">{escape(text)}</text>')
    return _svg(width, len(rows) * (bar_height + gap) + 4, body, title)


def columns(categories: list[str], series: list[tuple[str, str, list[float]]], *, title: str, width: int = 560,
            height: int = 200) -> SafeString:
    """Grouped columns over categories (e.g. days) with a y axis and a legend; ``series`` are (name, colour, values)."""
    left, bottom, top_pad = 40, 36, 24
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    top = max((v for _, _, values in series for v in values), default=0) or 1
    step = _nice_step(top)
    top = step * math.ceil(top / step)
    body = []
    tick = 0.0
    while tick <= top + 1e-9:
        y = top_pad + plot_h - plot_h * tick / top
        body.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        body.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
        tick += step
    group_w = plot_w / max(len(categories), 1)
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1)
    for ci, category in enumerate(categories):
        for si, (name, colour, values) in enumerate(series):
            value = values[ci]
            h = plot_h * value / top
            x = left + ci * group_w + group_w * 0.1 + si * bar_w
            body.append(
                f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                f'<title>{escape(category)} {escape(name)}: {value:g}</title></rect>'
            )
        every = max(1, len(categories) // 8)
        if ci % every == 0:
            body.append(f'<text x="{left + ci * group_w + group_w / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle">{escape(category)}</text>')
    for si, (name, colour, _) in enumerate(series):
        x = left + si * 110
        body.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{colour}"/><text x="{x + 16}" y="14">{escape(name)}</text>')
    return _svg(width, height, body, title)


def _nice_step(top: float) -> float:
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return max(factor * magnitude, 1)
    return 10 * magnitude
