"""The cheapest recipe that holds the bar: a two-objective study's accuracy-compute front, and the
confirmations of its candidates on held-out seeds against the bar, as Markdown.

    .venv/bin/python -m benchmarks.cost_gate sqlite:///benchmarks/results/<folder>/fastest.db \\
        --baseline 0 --docs

The front is the study's Pareto front (validation accuracy up, training multiply-adds down), with
each point's training compute as a share of the ``--baseline`` trial's. A confirmation
(``python -m mnist_sweep.confirm``, one per precision through ``--set device.precision=…``) passes
when its mean reaches ``--mean`` and its worst seed ``budget.target_acc``; a candidate holds the
bar when every one of its confirmations passes. Writes ``gate.md`` beside the study; ``--docs``
also puts it between the ``cost-gate`` markers of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna

from benchmarks.markers import publish
from mnist_sweep import trial_attrs
from mnist_sweep.formats import num, pct
from mnist_sweep.record import DEFAULT_BUDGET

START, END = "<!-- cost-gate:start -->", "<!-- cost-gate:end -->"


def precision(confirmation: dict) -> str:
    """The precision a confirmation asked for (``auto`` unless its --set named one)."""
    asked = [s.split("=", 1)[1] for s in confirmation["set"] if s.startswith("device.precision=")]
    return asked[-1] if asked else "auto"


def passes(confirmation: dict, mean: float, worst: float) -> bool:
    return confirmation["mean"] >= mean and confirmation["worst"] >= worst


def markdown(study: optuna.Study, baseline: int, mean: float, worst: float) -> str:
    base = study.trials[baseline].values[1]
    lines = [
        f"Study `{study.study_name}`: {len(study.trials)} trials; the front (validation accuracy "
        f"against training multiply-adds), cheapest first; compute as a share of trial "
        f"{baseline}'s.",
        "",
        "| trial | params | epochs | batch | training multiply-adds | of trial "
        f"{baseline} | validation accuracy |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in sorted(study.best_trials, key=lambda t: t.values[1]):
        lines.append(
            f"| {t.number} | {num(trial_attrs.params(t))} | {t.params['trainer.epochs']} | "
            f"{t.params['trainer.batch_size']} | {t.values[1] / 1e12:.3f} T | "
            f"{100 * t.values[1] / base:.0f} % | {pct(t.values[0])} |"
        )
    lines += [
        "",
        f"Confirmations on held-out seeds (all training images, final epoch); a row passes with "
        f"a mean ≥ {pct(mean)} and every seed ≥ {pct(worst)}.",
        "",
        f"| trial | of trial {baseline} | precision | seeds | test accuracy per seed | "
        "mean ± std | worst | passes |",
        "|---:|---:|---|---|---|---:|---:|---|",
    ]
    attrs = study.user_attrs
    confirmed = sorted(
        {int(k.split("/")[1]) for k in attrs if k.startswith(trial_attrs.CONFIRMED)},
        key=lambda n: study.trials[n].values[1],
    )
    for number in confirmed:
        share = f"{100 * study.trials[number].values[1] / base:.0f} %"
        for c in trial_attrs.confirmations(attrs, number):
            seeds = f"{min(c['seeds'])}–{max(c['seeds'])}"
            per_seed = " / ".join(pct(a, unit="") for a in c["test_acc"])
            spread = f" ± {pct(c['std'], unit='')}" if c["std"] is not None else ""
            lines.append(
                f"| {number} | {share} | {precision(c)} | {seeds} | {per_seed} | "
                f"{pct(c['mean'], unit='')}{spread} | {pct(c['worst'], unit='')} | "
                f"{'yes' if passes(c, mean, worst) else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("storage", help="the study's storage URL, e.g. sqlite:///…/fastest.db")
    p.add_argument("--study", default="fastest")
    p.add_argument("--baseline", type=int, default=0, help="the trial compute is compared with")
    p.add_argument("--mean", type=float, default=0.995, help="the mean a confirmation needs")
    p.add_argument("--docs", action="store_true", help="write the tables into docs/benchmarks.md")
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=args.study, storage=args.storage)
    table = markdown(study, args.baseline, args.mean, DEFAULT_BUDGET.target_acc)
    out = Path(args.storage.removeprefix("sqlite:///")).parent / "gate.md"
    publish(table, out, START, END, args.docs)


if __name__ == "__main__":
    main()
