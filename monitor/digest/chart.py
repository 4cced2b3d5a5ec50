"""The timeline of the HTML digest: stacked bars of new articles per day by stance, drawn as an
inline SVG whose geometry is computed here, so the template only prints numbers.

Days are binned wider as the span grows: per week past 62 days, per month past 60 weeks, per
year past 10 years.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from monitor.digest.model import STANCES, DayCount


@dataclass(frozen=True)
class Segment:
    """One stance's slice of one bar."""

    stance: str
    count: int
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    """One bar of the timeline: a day, week, month or year."""

    x: float
    width: float
    label: str
    total: int
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Chart:
    """Geometry of the inline SVG timeline, computed here so the template only prints numbers."""

    width: int
    height: int
    top: int
    plot_height: int
    left: int
    unit: str
    max_count: int
    bars: tuple[Bar, ...]
    first_label: str
    last_label: str


def _bin_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def _next_bin(start: date, unit: str) -> date:
    if unit == "day":
        return start + timedelta(days=1)
    if unit == "week":
        return start + timedelta(days=7)
    if unit == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start.replace(year=start.year + 1)


def _bin_label(start: date, unit: str) -> str:
    if unit == "month":
        return start.strftime("%Y-%m")
    if unit == "year":
        return str(start.year)
    if unit == "week":
        return "week of " + start.isoformat()
    return start.isoformat()


def timeline_chart(days: Sequence[DayCount], *, width: int = 420, height: int = 170) -> Chart:
    """Stacked bars of articles by stance over a continuous axis of days (or wider bins)."""
    left, top, bottom = 30, 10, 22
    plot_h = height - top - bottom
    if not days:
        return Chart(width, height, top, plot_h, left, "day", 0, (), "", "")
    first, last = days[0].day, days[-1].day
    span = (last - first).days + 1
    unit = "day" if span <= 62 else "week" if span <= 7 * 60 else "month"
    if unit == "month" and (last.year - first.year) * 12 > 120:
        unit = "year"
    bins: dict[date, dict[str, int]] = {}
    cursor = _bin_start(first, unit)
    while cursor <= last:
        bins[cursor] = {s: 0 for s in STANCES}
        cursor = _next_bin(cursor, unit)
    for d in days:
        bucket = bins[_bin_start(d.day, unit)]
        for stance, n in d.counts.items():
            bucket[stance] += n
    max_count = max((sum(c.values()) for c in bins.values()), default=0) or 1
    slot = (width - left - 4) / len(bins)
    gap = min(2.0, slot * 0.15)
    bar_w = max(min(slot - gap, 40.0), 0.5)  # a few wide bins still read as bars
    bars = []
    for i, (start, counts) in enumerate(bins.items()):
        y = float(top + plot_h)
        segs = []
        for stance in STANCES:
            n = counts[stance]
            if not n:
                continue
            h = plot_h * n / max_count
            y -= h
            segs.append(Segment(stance, n, round(y, 2), round(h, 2)))
        bars.append(
            Bar(
                x=round(left + i * slot + (slot - bar_w) / 2, 2),
                width=round(bar_w, 2),
                label=_bin_label(start, unit),
                total=sum(counts.values()),
                segments=tuple(segs),
            )
        )
    return Chart(
        width,
        height,
        top,
        plot_h,
        left,
        unit,
        max_count,
        tuple(bars),
        _bin_label(_bin_start(first, unit), unit),
        bars[-1].label,
    )
