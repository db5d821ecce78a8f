"""Charts drawn with matplotlib (no pyplot, no display) and returned as ``data:`` URIs.

A data URI keeps every page one self-contained file that opens from disk with no network.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import imsave
from matplotlib.ticker import NullFormatter

from mnist_sweep.record import FINISHED

# One colour per status level; the page's CSS badges use the same ones.
COLORS = {
    "target": "#1a7f37",
    "below": "#bf8700",
    "pruned": "#9a6700",
    "diverged": "#bc4c00",
    "interrupted": "#57606a",
    "running": "#0969da",
    "over_budget": "#8250df",
    "failed": "#cf222e",
    "unreadable": "#6e7781",
}
SERIES = {"train": "#0969da", "test": "#cf222e", "val": "#1a7f37"}
# How a study's trials are marked: finished, stopped by the pruner, never trained, crashed.
TRIAL_COLORS = {
    "complete": "#0969da",
    "pruned": COLORS["pruned"],
    "refused": COLORS["over_budget"],
    "failed": COLORS["failed"],
    "running": "#6e7781",
}
RASTER_FROM = 2000  # points above which a scatter is drawn as an image inside the SVG
STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller files, the page's font
    "svg.hashsalt": "mnist_sweep",  # stable ids, so an unchanged chart gives an unchanged page
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
}


def svg(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def target_line(ax: Axes, target_acc: float) -> None:
    label = f"target {100 * target_acc:g} %"
    ax.axhline(100 * target_acc, color=COLORS["target"], lw=0.9, ls=":", label=label)


def staircase(ax: Axes, x: pd.Series, y: pd.Series, label: str) -> None:
    """A front drawn as steps: from each point on it, flat until the next one."""
    ax.plot(x, y, drawstyle="steps-post", color="#24292f", lw=1, zorder=1, label=label)


def is_line(values: object) -> bool:
    """True when ``values`` (a run's curve) is a list of two or more finite numbers, gaps
    aside: enough for a line."""
    if not isinstance(values, list | tuple):
        return False
    return sum(isinstance(v, int | float) and math.isfinite(v) for v in values) >= 2


# the run report's panels: title, then each series' column, colour, label and scale
PANELS = {
    "loss": [(f"{split}_loss", color, split, 1) for split, color in SERIES.items()],
    "accuracy (%)": [(f"{split}_acc", color, split, 100) for split, color in SERIES.items()],
    "learning rate": [("lr", "#57606a", "learning rate", 1)],
}


def curves(history: pd.DataFrame, target_acc: float) -> str:
    """Loss and accuracy per epoch (train, test, validation when present) and learning rate: a
    panel for each that the history has a value of, each series joined across the epochs it
    skips (``trainer.test_every``), with a marker per point up to 30 epochs and for a series of
    one point. Empty when the history has none of them."""
    epoch = history["epoch"]
    drawn = {}
    for title, series in PANELS.items():
        shown = []
        for column, color, label, scale in series:
            if column in history:
                values = pd.to_numeric(history[column], errors="coerce")
                kept = values.notna() & np.isfinite(values)
                if kept.any():
                    shown.append((epoch[kept], scale * values[kept], color, label))
        if shown:
            drawn[title] = shown
    if not drawn:
        return ""
    with rc_context(STYLE):
        fig = Figure(figsize=(3.5 * len(drawn), 2.9), layout="constrained")
        axes = fig.subplots(1, len(drawn), squeeze=False)[0]
        for ax, (title, shown) in zip(axes, drawn.items(), strict=True):
            for x, y, color, label in shown:
                marker = "o" if len(history) <= 30 or len(x) == 1 else None
                ax.plot(x, y, color=color, marker=marker, ms=3, label=label)
            if title == "accuracy (%)":
                target_line(ax, target_acc)
                ax.legend(loc="lower right")
            ax.set_title(title, loc="left", fontsize=10)
            ax.set_xlabel("epoch")
            ax.set_xlim(epoch.min() - 0.5, epoch.max() + 0.5)
            ax.xaxis.get_major_locator().set_params(integer=True)
        return svg(fig)


def _colors(levels: pd.Series) -> list[str]:
    return [COLORS[level] for level in levels]


def pareto(df: pd.DataFrame, budget: int, target_acc: float) -> str:
    """Final test accuracy against parameters; the Pareto front as a staircase, runs numbered.
    Empty when no finished run has both."""
    done = df[df["level"].isin(FINISHED)].dropna(subset=["params", "test_acc"])
    if done.empty:
        return ""
    with rc_context(STYLE):
        fig = Figure(figsize=(6.2, 3.6), layout="constrained")
        ax = fig.subplots()
        front = done[done["pareto"].astype(bool)].sort_values("params")
        staircase(ax, front["params"], 100 * front["test_acc"], "Pareto front")
        ax.scatter(
            front["params"], 100 * front["test_acc"], s=90, facecolors="none", edgecolors="#24292f"
        )
        ax.scatter(
            done["params"],
            100 * done["test_acc"],
            s=26,
            c=_colors(done["level"]),
            zorder=2,
            rasterized=len(done) > RASTER_FROM,
        )
        if len(done) <= 60:
            for _, row in done.iterrows():
                ax.annotate(
                    str(row["run"]),
                    (row["params"], 100 * row["test_acc"]),
                    xytext=(4, 3),
                    textcoords="offset points",
                    fontsize=7,
                    color="#57606a",
                )
        target_line(ax, target_acc)
        ax.axvline(budget, color=COLORS["over_budget"], lw=0.9, ls="--", label=f"budget {budget:,}")
        ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
        ax.margins(x=0.08, y=0.1)
        ax.set_xlabel("trainable parameters")
        ax.set_ylabel("final test accuracy (%)")
        fig.legend(loc="outside lower center", ncols=3, fontsize=8)
        return svg(fig)


def journey(df: pd.DataFrame, target_acc: float) -> str:
    """Final test accuracy in launch order with the best so far; runs with none marked x.
    Empty when no run has one."""
    scored = df.dropna(subset=["test_acc"])
    if scored.empty:
        return ""
    with rc_context(STYLE):
        fig = Figure(figsize=(6.2, 3.6), layout="constrained")
        ax = fig.subplots()
        acc = 100 * scored["test_acc"]
        ax.plot(
            scored["run"], acc, color="#d0d7de", lw=1, zorder=1, rasterized=len(df) > RASTER_FROM
        )
        ax.plot(
            scored["run"],
            acc.cummax(),
            drawstyle="steps-post",
            color="#24292f",
            lw=1,
            label="best so far",
        )
        ax.scatter(
            scored["run"],
            acc,
            s=26,
            c=_colors(scored["level"]),
            zorder=2,
            rasterized=len(scored) > RASTER_FROM,
        )
        target_line(ax, target_acc)
        unscored = df[df["test_acc"].isna()]
        if len(unscored):
            bottom_marks(ax, unscored["run"], _colors(unscored["level"]), "no accuracy", 30)
        ax.set_xlim(0.5, len(df) + 0.5)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("run # (launch order)")
        ax.set_ylabel("final test accuracy (%)")
        fig.legend(loc="outside lower center", ncols=3, fontsize=8)
        return svg(fig)


def bottom_marks(
    ax: Axes, x: pd.Series, colors: list[str], label: str, size: int, rasterized: bool = False
) -> None:
    """An x along the bottom of the plot for each entry that has no value to place."""
    ax.scatter(
        x,
        np.full(len(x), 0.03),
        marker="x",
        s=size,
        c=colors,
        transform=ax.get_xaxis_transform(),
        rasterized=rasterized,
        label=label,
    )


def size_front(
    recipes: pd.DataFrame, chosen: pd.DataFrame, bounds: Sequence[int], target_acc: float
) -> str:
    """Confirmed recipes' mean final test accuracy (± std over seeds) against parameters on a
    log axis, each one's worst seed marked; the best under each bound (dashed) ringed. Empty
    when there is no recipe."""
    if recipes.empty:
        return ""
    with rc_context(STYLE):
        fig = Figure(figsize=(6.2, 3.6), layout="constrained")
        ax = fig.subplots()
        x, mean = recipes["params"].astype(float), 100 * recipes["mean"].astype(float)
        std = 100 * recipes["std"].astype(float).fillna(0)
        ax.errorbar(x, mean, yerr=std, fmt="o", ms=4, color=TRIAL_COLORS["complete"],
                    ecolor="#8c959f", elinewidth=1, capsize=2, label="mean ± std")  # fmt: skip
        ax.scatter(x, 100 * recipes["worst"].astype(float), marker="v", s=22,
                   color=COLORS["failed"], zorder=3, label="worst seed")  # fmt: skip
        ax.scatter(chosen["params"].astype(float), 100 * chosen["mean"].astype(float), s=110,
                   facecolors="none", edgecolors="#24292f", label="best under a bound")  # fmt: skip
        for bound in bounds:
            ax.axvline(bound, color="#afb8c1", lw=0.8, ls="--")
        target_line(ax, target_acc)
        ax.set_xscale("log")
        ax.set_xticks(list(bounds))
        ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("trainable parameters (log scale)")
        ax.set_ylabel("final test accuracy (%)")
        fig.legend(loc="outside lower center", ncols=4, fontsize=8)
        return svg(fig)


def digit(image: np.ndarray) -> str:
    """One 28x28 uint8 digit as a PNG data URI, dark ink on white."""
    buf = io.BytesIO()
    imsave(buf, image, cmap="gray_r", vmin=0, vmax=255, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
