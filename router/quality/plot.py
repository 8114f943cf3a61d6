"""`curve.png` for `router eval`: quality against cost, one panel per view.

Left (when every model has a cost column): mean USD per query, the router's curve as
its cost knob sweeps, every single model as a labelled point, the random router (the
hull of the single models) and the oracle; in `--mode cascade` also the cascade's curve
(its threshold swept) and the route-then-verify hull. Right: the strong/weak pair against the
share of calls to the strong model (the other models as horizontal lines when there is
no cost panel to show them).

matplotlib is optional (`pip install 'freefirst-router[eval]'`): it is imported here, inside
`render_png`, and drawn with the Agg canvas directly, leaving pyplot's global state
(and the user's backend) alone.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from router.quality.metrics import Point
    from router.quality.result import Curves, EvalResult

__all__ = ["PlotUnavailable", "check_available", "render_png"]

INSTALL_HINT = "pip install 'freefirst-router[eval]'"
_EXTRA_COLORS = ("tab:purple", "tab:orange", "tab:brown", "tab:pink")


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed: says how to install it."""


def check_available() -> None:
    """Raise `PlotUnavailable` now, before any work, if curve.png could not be drawn."""
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError as error:
        raise PlotUnavailable(
            f"curve.png needs matplotlib, which is not installed: {INSTALL_HINT}"
        ) from error


def render_png(result: EvalResult) -> bytes:
    """The figure as PNG bytes."""
    check_available()
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    panels = [
        (title, curves)
        for title, curves in (
            ("all models (RouterBench)", result.many),
            ("strong vs weak (RouteLLM)", result.pair),
        )
        if curves is not None
    ]
    figure = Figure(figsize=(6.4 * max(1, len(panels)), 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    if not panels:
        figure.text(0.5, 0.5, "no curve: see the notes in metrics.json", ha="center")
    for k, (title, curves) in enumerate(panels):
        # The other models' levels only when no cost panel shows them already.
        levels = result.many is None
        _panel(figure.add_subplot(1, len(panels), k + 1), title, curves, levels=levels)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _panel(ax: Axes, title: str, curves: Curves, *, levels: bool) -> None:
    def xy(points: list[Point]) -> tuple[list[float], list[float]]:
        return [p.cost for p in points], [p.quality for p in points]

    ax.plot(*xy(curves.random), color="0.5", linestyle="--", label="random")
    ax.plot(*xy(curves.oracle), color="tab:green", linestyle=":", label="oracle")
    ax.plot(*xy(curves.router), color="tab:blue", marker=".", markersize=3, label="router")
    for (name, points), color in zip(curves.extra.items(), _EXTRA_COLORS, strict=False):
        ax.plot(*xy(points), color=color, marker=".", markersize=3, label=name)
    for model, point in curves.singles.items():
        ax.scatter([point.cost], [point.quality], color="tab:red", s=18, zorder=3)
        ax.annotate(
            model.rsplit("/", 1)[-1], (point.cost, point.quality),
            textcoords="offset points", xytext=(4, 3), fontsize=7,
        )  # fmt: skip
    for model, level in curves.levels.items() if levels else ():
        ax.axhline(level, color="tab:red", linewidth=0.6, alpha=0.4)
        ax.annotate(model.rsplit("/", 1)[-1], (0.0, level), fontsize=6, alpha=0.6)
    xs = [p.cost for c in (curves.router, curves.random, curves.oracle) for p in c]
    xs += [p.cost for c in curves.extra.values() for p in c]
    xs += [p.cost for p in curves.singles.values()]
    if curves.x_label.startswith("mean cost") and min(xs) > 0:
        ax.set_xscale("log")
    ax.set_xlabel(curves.x_label)
    ax.set_ylabel("mean quality")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
