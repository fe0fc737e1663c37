"""The page's cost–accuracy chart: inline SVG, one labelled point per arm.

Cost per task on x, pass rate with its Wilson interval on y, the Pareto
frontier dashed; labels are placed to avoid every point, bar, the frontier
and each other. Two frames: a wide one for screens and a compact one phones
get through a CSS media query (the page has no scripts).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .fmt import ci_text, esc, pct

PALETTE = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777",
           "#65a30d", "#475569", "#ea580c"]


@dataclass(frozen=True)
class Frame:
    """The chart's drawing area: a wide one for screens, a compact one for phones."""

    id: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    x_title: str


WIDE = Frame("chart", 960, 430, 64, 24, 20, 56,
             "cost per task (units: haiku call 1, sonnet call 3)")
NARROW = Frame("chart-narrow", 420, 400, 50, 12, 16, 52, "cost per task (units)")
CHAR_W = 6.9     # a 12px sans-serif character, roughly


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / max(ticks, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def chart(sm: dict[str, Any], colors: dict[str, str], frame: Frame = WIDE) -> str:
    """Cost per task (x) against pass rate with its interval (y): one labelled point per arm."""
    points = [a for a in sm["arms"] if a["n"]]
    if not points:
        return '<p class="muted">No results yet.</p>'
    x_step, x_max, y_step, y_min, y_max = _scales(points, frame)
    left, top = frame.left, frame.top
    plot_w = frame.width - frame.left - frame.right
    plot_h = frame.height - frame.top - frame.bottom
    bottom = top + plot_h

    def sx(v: float) -> float:
        return left + plot_w * v / x_max

    def sy(v: float) -> float:
        return top + plot_h * (1 - (v - y_min) / (y_max - y_min))

    out = [f'<svg class="chart {"wide" if frame is WIDE else "narrow"}" id="{frame.id}" '
           f'viewBox="0 0 {frame.width} {frame.height}" role="img" '
           'aria-label="cost per task against pass rate, one point per arm" '
           'xmlns="http://www.w3.org/2000/svg">']
    for tick in _ticks(0.0, x_max, x_step):
        x = sx(tick)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{bottom + 18}" '
                   f'text-anchor="middle">{tick:g}</text>')
    for tick in _ticks(y_min, y_max, y_step):
        y = sy(tick)
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" '
                   f'y2="{y:.1f}"/><text class="tick" x="{left - 8}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{100 * tick:.0f}%</text>')
    out.append(f'<line class="axis" x1="{left}" y1="{bottom}" x2="{left + plot_w}" '
               f'y2="{bottom}"/><line class="axis" x1="{left}" y1="{top}" x2="{left}" '
               f'y2="{bottom}"/>')
    out.append(f'<text class="axis-label" x="{left + plot_w / 2:.0f}" '
               f'y="{frame.height - 12}" text-anchor="middle">{esc(frame.x_title)}</text>')
    out.append(f'<text class="axis-label" transform="translate(14 {top + plot_h / 2:.0f}) '
               'rotate(-90)" text-anchor="middle">pass rate (95% CI)</text>')

    frontier = [(sx(a["cost_units"] / a["n"]), sy(a["pass_rate"])) for a in _pareto(points)]
    if len(frontier) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in frontier)
        out.append(f'<polyline class="frontier" points="{path}"/>')

    geometry = []
    for a in points:
        x, y = sx(a["cost_units"] / a["n"]), sy(a["pass_rate"])
        geometry.append((a, x, y, sy(a["ci_low"]), sy(a["ci_high"])))
    obstacles = _obstacles(geometry, frontier)
    bounds = (left + 2, top, left + plot_w - 2, bottom - 2)
    for a, x, y, y_low, y_high in sorted(geometry, key=lambda g: -g[0]["pass_rate"]):
        out.append(_point(a, x, y, y_low, y_high, colors.get(a["arm"], PALETTE[0]),
                          _place_label(a["arm"], x, y, obstacles, bounds)))
    out.append("</svg>")
    return "".join(out)


def _scales(points: list[dict[str, Any]], frame: Frame
            ) -> tuple[float, float, float, float, float]:
    """Round steps and ranges for both axes: x from 0 past the dearest arm, y around the
    intervals within 0..100%. Returns x_step, x_max, y_step, y_min, y_max."""
    xs = [a["cost_units"] / a["n"] for a in points]
    x_step = _nice_step(max(max(xs), 1.0), 5 if frame is WIDE else 4)
    x_max = x_step * math.ceil(max(xs) * 1.12 / x_step + 1e-9) or x_step
    y_lo, y_hi = min(a["ci_low"] for a in points), max(a["ci_high"] for a in points)
    y_step = _nice_step(max(y_hi - y_lo, 0.1))
    y_min = max(0.0, y_step * math.floor(y_lo / y_step))
    y_max = min(1.0, y_step * math.ceil(y_hi / y_step)) if y_hi < 1 else 1.0
    if y_max - y_min < y_step:
        y_max = min(1.0, y_min + y_step)
    return x_step, x_max, y_step, y_min, y_max


def _ticks(start: float, stop: float, step: float) -> Iterator[float]:
    """Axis ticks from `start` by `step` up to `stop` (inclusive, with float slack)."""
    tick = start
    while tick <= stop + 1e-9:
        yield tick
        tick += step


def _obstacles(geometry: list[tuple], frontier: list[tuple[float, float]]) -> list[Box]:
    """What labels avoid: every point, every interval bar and the frontier line."""
    obstacles: list[Box] = []
    for _, x, y, y_low, y_high in geometry:
        obstacles += [(x - 7, y - 7, x + 7, y + 7), (x - 6, y_high, x + 6, y_low)]
    for (x0, y0), (x1, y1) in zip(frontier, frontier[1:], strict=False):
        steps = max(int(math.hypot(x1 - x0, y1 - y0) / 6), 1)
        obstacles += [(x0 + (x1 - x0) * i / steps - 2, y0 + (y1 - y0) * i / steps - 2,
                       x0 + (x1 - x0) * i / steps + 2, y0 + (y1 - y0) * i / steps + 2)
                      for i in range(steps + 1)]
    return obstacles


def _point(a: dict[str, Any], x: float, y: float, y_low: float, y_high: float, color: str,
           label: tuple[float, float, str, bool]) -> str:
    """One arm's point: its interval bar with caps, the dot, the label (and a leader line
    to a label placed far away), and a tooltip with the figures."""
    label_x, label_y, anchor, far = label
    leader = (f'<line class="leader" x1="{x:.1f}" y1="{y:.1f}" x2="{label_x:.1f}" '
              f'y2="{label_y - 4:.1f}" stroke="{color}"/>' if far else "")
    title = (f"{a['arm']}: pass {pct(a['pass_rate'], none='–')} "
             f"(95% CI {ci_text(a['ci_low'], a['ci_high'], none='–')}), "
             f"{a['cost_units'] / a['n']:.2f} units per task, n = {a['n']}")
    return (f'<g class="point" data-arm="{esc(a["arm"])}"><title>{esc(title)}</title>'
            f'<line class="ci" x1="{x:.1f}" y1="{y_low:.1f}" x2="{x:.1f}" y2="{y_high:.1f}" '
            f'stroke="{color}"/>'
            f'<line class="cap" x1="{x - 5:.1f}" y1="{y_low:.1f}" x2="{x + 5:.1f}" '
            f'y2="{y_low:.1f}" stroke="{color}"/>'
            f'<line class="cap" x1="{x - 5:.1f}" y1="{y_high:.1f}" x2="{x + 5:.1f}" '
            f'y2="{y_high:.1f}" stroke="{color}"/>'
            f'{leader}<circle cx="{x:.1f}" cy="{y:.1f}" r="5.5" fill="{color}"/>'
            f'<text class="label" x="{label_x:.1f}" y="{label_y:.1f}" '
            f'text-anchor="{anchor}">{esc(a["arm"])}</text></g>')


def _pareto(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arms no other arm beats on both cost and pass rate, cheapest first."""
    ranked = sorted(points, key=lambda a: (a["cost_units"] / a["n"], -a["pass_rate"]))
    frontier: list[dict[str, Any]] = []
    for a in ranked:
        if not frontier or a["pass_rate"] > frontier[-1]["pass_rate"]:
            frontier.append(a)
    return frontier


Box = tuple[float, float, float, float]      # left, top, right, bottom


def _place_label(text: str, x: float, y: float, obstacles: list[Box],
                 bounds: Box) -> tuple[float, float, str, bool]:
    """A spot for a point's label: beside it, nudged up or down to hit as little as possible.

    Tries right then left of the point at growing vertical offsets and takes
    the first spot that hits nothing, else the one that hits least. Returns
    the text position, its anchor, and whether it sits far enough from the
    point to need a leader line. The box taken joins `obstacles`.
    """
    width, height = CHAR_W * len(text) + 2, 14.0
    best: tuple[int, int, float, float, str, Box] | None = None
    order = 0
    for shift in (0, -14, 14, -26, 26, -38, 38, -52, 52, -66, 66):
        for anchor in ("start", "end"):
            base = y + 4 + shift                       # text baseline
            left = x + 10 if anchor == "start" else x - 10 - width
            box = (left, base - 11, left + width, base - 11 + height)
            if not (box[0] >= bounds[0] and box[2] <= bounds[2] and box[1] >= bounds[1]
                    and box[3] <= bounds[3]):
                continue
            hits = sum(_overlap(box, other) for other in obstacles)
            if best is None or (hits, order) < best[:2]:
                best = (hits, order, x + 10 if anchor == "start" else x - 10, base, anchor, box)
            order += 1
            if hits == 0:
                break
        if best is not None and best[0] == 0:
            break
    if best is None:                                   # wider than the plot: right of it
        obstacles.append((x + 10, y - 7, x + 10 + width, y + 7))
        return x + 10, y + 4, "start", False
    _, _, label_x, base, anchor, box = best
    obstacles.append(box)
    return label_x, base, anchor, abs(base - 4 - y) > 20


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
