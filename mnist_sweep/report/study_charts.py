"""The study page's charts: the optimization history, seed repeats, and the accuracy–compute
front of a study's trials (the style and the SVG writer are ``charts``')."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure

from mnist_sweep.formats import si
from mnist_sweep.report.charts import (
    RASTER_FROM,
    STYLE,
    TRIAL_COLORS,
    bottom_marks,
    staircase,
    svg,
)


def history(trials: pd.DataFrame, objective: str, direction: str) -> str:
    """A study's objective by trial number with the best so far (an accuracy in %); pruned
    trials at the last value they reported, refused and failed ones marked along the bottom.
    Empty when no trial has a value."""
    if not trials["value"].notna().any():
        return ""
    percent = "acc" in objective and trials["value"].dropna().between(0, 1).all()
    trials = trials.assign(value=trials["value"] * (100 if percent else 1))
    with rc_context(STYLE):
        fig = Figure(figsize=(6.2, 3.6), layout="constrained")
        ax = fig.subplots()
        many = len(trials) > RASTER_FROM
        done = trials[trials["kind"].eq("complete") & trials["value"].notna()]
        if len(done):
            best = done["value"].cummax() if direction == "maximize" else done["value"].cummin()
            ax.plot(
                done["number"],
                best,
                drawstyle="steps-post",
                color="#24292f",
                lw=1,
                label="best so far",
            )
        for kind, color in TRIAL_COLORS.items():
            some = trials[trials["kind"].eq(kind)]
            shown = some[some["value"].notna()]
            if len(shown):
                ax.scatter(
                    shown["number"],
                    shown["value"],
                    s=22,
                    color=color,
                    zorder=2,
                    marker="o" if kind == "complete" else "v",
                    label=kind,
                    rasterized=many,
                )
            unvalued = some[some["value"].isna()]
            if len(unvalued):
                label = f"{kind} (no value)"
                bottom_marks(ax, unvalued["number"], [color] * len(unvalued), label, 26, many)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("trial")
        ax.set_ylabel(f"{objective} (%)" if percent else objective)
        fig.legend(loc="outside lower center", ncols=4, fontsize=8)
        return svg(fig)


def seed_front(trials: pd.DataFrame, objective: str, direction: str) -> str:
    """Objective against parameter count, mean ± std over each trial's seed repeats, with the
    Pareto front of the means (no other trial both smaller and better on average). Empty when
    no trial has both."""
    rep = trials[trials["n_seeds"].gt(1) & trials["params_count"].notna()]
    if rep.empty:
        return ""
    with rc_context(STYLE):
        fig = Figure(figsize=(6.2, 3.6), layout="constrained")
        ax = fig.subplots()
        ax.errorbar(
            rep["params_count"],
            rep["seed_mean"],
            yerr=rep["seed_std"],
            fmt="o",
            ms=4,
            color=TRIAL_COLORS["complete"],
            ecolor="#8c959f",
            elinewidth=1,
            capsize=2,
            label="trial: mean ± std",
        )
        sign = 1 if direction == "maximize" else -1
        best, front = -np.inf, []
        for _, row in rep.sort_values(["params_count", "seed_mean"]).iterrows():
            if sign * row["seed_mean"] > best:
                best = sign * row["seed_mean"]
                front.append((row["params_count"], row["seed_mean"]))
        if front:
            xs, ys = zip(*front, strict=True)
            ax.plot(xs, ys, drawstyle="steps-post", color="#24292f", lw=1, label="Pareto front")
        ax.xaxis.set_major_formatter(lambda x, _: f"{x:,.0f}")
        ax.set_xlabel("trainable parameters")
        ax.set_ylabel(f"{objective} over seeds")
        fig.legend(loc="outside lower center", ncols=2, fontsize=8)
        return svg(fig)


def cost_front(points: pd.DataFrame) -> str:
    """Validation accuracy against the multiply-adds of training, one point per trained run of a
    study (``trial``, ``val_acc``, ``train_macs``), numbered by trial, with the front as a
    staircase (no other run both cheaper and more accurate). Empty when no run has both."""
    if points.empty:
        return ""
    with rc_context(STYLE):
        fig = Figure(figsize=(6.2, 3.6), layout="constrained")
        ax = fig.subplots()
        ranked = points.sort_values(["train_macs", "val_acc"], ascending=[True, False])
        front = ranked[ranked["val_acc"] > ranked["val_acc"].cummax().shift(fill_value=-np.inf)]
        staircase(
            ax,
            front["train_macs"],
            100 * front["val_acc"],
            "front: no run cheaper and more accurate",
        )
        ax.scatter(
            points["train_macs"],
            100 * points["val_acc"],
            s=26,
            color=TRIAL_COLORS["complete"],
            zorder=2,
            rasterized=len(points) > RASTER_FROM,
            label="trained run",
        )
        if len(points) <= 60:
            for _, row in points.iterrows():
                ax.annotate(
                    str(round(row["trial"])),
                    (row["train_macs"], 100 * row["val_acc"]),
                    xytext=(4, 3),
                    textcoords="offset points",
                    fontsize=7,
                    color="#57606a",
                )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(lambda x, _: si(x))
        low, high = points["train_macs"].min(), points["train_macs"].max()
        shown = "235" if low <= 0 or high / low < 10 else "25"  # minor ticks labelled, by digit
        ax.xaxis.set_minor_formatter(lambda x, _: si(x) if f"{x:.0e}"[0] in shown else "")
        ax.margins(x=0.08, y=0.1)
        ax.set_xlabel("multiply-adds of training (3 × per image × images trained)")
        ax.set_ylabel("validation accuracy (%)")
        fig.legend(loc="outside lower center", ncols=2, fontsize=8)
        return svg(fig)
