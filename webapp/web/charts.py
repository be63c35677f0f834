"""Server-rendered SVG chart geometry: a value line over time and horizontal bars.

Hand-written because it must work without JavaScript under a strict CSP and never pass money
through a float; an interactive chart (uPlot) may enhance it, not replace it.

Pure functions (no Flask, no database). Pixel coordinates are computed in Decimal and
rounded to a tenth of a pixel, so that no amount ever passes through a float.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Callable, Sequence

from webapp.domain.money import EXACT

PX = Decimal("0.1")


def _px(d: Decimal) -> str:
    return format(d.quantize(PX), "f")


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    line: str  # the SVG path of the value line
    area: str  # the same line closed down to the x axis
    low: Decimal  # the smallest and largest value drawn (the y axis labels)
    high: Decimal
    start: datetime  # the first and last moment drawn (the x axis labels)
    end: datetime
    low_y: str
    high_y: str
    baseline_y: str
    left: int
    right: int
    points: int


def line_chart(points: Sequence[tuple[datetime, Decimal]], width: int = 720, height: int = 240,
               left: int = 8, right: int = 8, top: int = 12, bottom: int = 12) -> LineChart | None:
    """The path of `points` (sorted by time) scaled into the plot box; None for fewer than two."""
    if len(points) < 2:
        return None
    t0, t1 = points[0][0], points[-1][0]
    values = [v for _, v in points]
    low, high = min(values), max(values)
    plot_w, plot_h = Decimal(width - left - right), Decimal(height - top - bottom)
    span_t = Decimal(_micros(t1 - t0)) or Decimal(1)
    span_v = EXACT.subtract(high, low)
    coords = []
    for t, v in points:
        x = left + EXACT.divide(EXACT.multiply(Decimal(_micros(t - t0)), plot_w), span_t)
        if span_v:
            y = top + plot_h - EXACT.divide(EXACT.multiply(EXACT.subtract(v, low), plot_h), span_v)
        else:  # a flat line: draw it across the middle
            y = top + plot_h / 2
        coords.append((_px(x), _px(y)))
    line = "M" + " L".join(f"{x},{y}" for x, y in coords)
    baseline = _px(Decimal(top) + plot_h)
    area = f"{line} L{coords[-1][0]},{baseline} L{coords[0][0]},{baseline} Z"
    flat = not span_v
    return LineChart(
        width=width, height=height, line=line, area=area, low=low, high=high, start=t0, end=t1,
        low_y=_px(Decimal(top) + (plot_h / 2 if flat else plot_h)),
        high_y=_px(Decimal(top) + (plot_h / 2 if flat else 0)),
        baseline_y=baseline, left=left, right=width - right, points=len(points),
    )


def _micros(delta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class Bar:
    label: str
    percent: Decimal | None
    y: int
    width: str  # of the bar, in px


def bar_widths(shares: Sequence[tuple[str, Decimal | None]], width: int = 300, row: int = 22) -> list[Bar]:
    """Horizontal bars for (label, percent of 100 or None) pairs, the full width being 100 %."""
    out = []
    for i, (label, percent) in enumerate(shares):
        share = Decimal(0) if percent is None else max(percent, Decimal(0))
        w = EXACT.divide(EXACT.multiply(share, Decimal(width)), Decimal(100))
        out.append(Bar(label=label, percent=percent, y=i * row, width=_px(min(w, Decimal(width)))))
    return out


@dataclass(frozen=True)
class IndexChart:
    """Two index lines (the portfolio's TWR and a benchmark, both 100 at the start) on one scale."""
    width: int
    height: int
    lines: tuple[str, ...]  # an SVG path per series (empty when it has fewer than two points)
    low: Decimal
    high: Decimal
    start: object
    end: object
    low_y: str
    high_y: str
    hundred_y: str | None  # where 100 is, when inside the range


def index_chart(*series: Sequence[tuple[object, Decimal | None]], width: int = 720, height: int = 240,
                pad: int = 12) -> IndexChart | None:
    """The series (day, index; None: not defined, left out) scaled on one shared y axis and
    one shared span of days; None when no series has two points."""
    series = [[(d, v) for d, v in s if v is not None] for s in series]
    drawn = [s for s in series if len(s) >= 2]
    if not drawn:
        return None
    days = [d for s in drawn for d, _ in s]
    t0, t1 = min(days), max(days)
    values = [v for s in drawn for _, v in s]
    low, high = min(values), max(values)
    plot_w, plot_h = Decimal(width - 2 * pad), Decimal(height - 2 * pad)
    span_t = Decimal((t1 - t0).days) or Decimal(1)
    span_v = EXACT.subtract(high, low) or Decimal(1)

    def y(v: Decimal) -> Decimal:
        return pad + plot_h - EXACT.divide(EXACT.multiply(EXACT.subtract(v, low), plot_h), span_v)

    lines = []
    for s in series:
        if len(s) < 2:
            lines.append("")
            continue
        coords = [(_px(pad + EXACT.divide(EXACT.multiply(Decimal((d - t0).days), plot_w), span_t)), _px(y(v)))
                  for d, v in s]
        lines.append("M" + " L".join(f"{x},{yy}" for x, yy in coords))
    hundred = Decimal(100)
    return IndexChart(width, height, tuple(lines), low, high, t0, t1, _px(y(low)), _px(y(high)),
                      _px(y(hundred)) if low <= hundred <= high else None)


def interactive_series(days: Sequence[date], *series: tuple[str, Sequence[Decimal | None], Callable]) -> dict:
    """The data an interactive chart (static/charts.js, uPlot) draws, as JSON-ready lists: per
    day its UTC midnight in epoch seconds and its ISO date, and per series its label, the exact
    values as decimal strings (numbers only to plot) and their text as the page prints them
    (what the hover readout shows: never a float formatted in the browser). None: no value."""
    def epoch(d: date) -> int:
        return int(datetime.combine(d, time.min, timezone.utc).timestamp())

    return {
        "x": [epoch(d) for d in days],
        "days": [d.isoformat() for d in days],
        "series": [{"label": label,
                    "values": [None if v is None else format(v, "f") for v in values],
                    "text": [None if v is None else fmt(v) for v in values]} for label, values, fmt in series],
    }


def merged_by_day(*series: Sequence[tuple[date, Decimal | None]]) -> tuple[list[date], list[list[Decimal | None]]]:
    """Several daily series on the union of their days (None where a series has no value)."""
    days = sorted({d for s in series for d, _ in s})
    lookups = [dict(s) for s in series]
    return days, [[lk.get(d) for d in days] for lk in lookups]
