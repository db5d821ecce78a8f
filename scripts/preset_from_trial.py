"""Write an ``experiment`` preset from a confirmed trial of a study.

    .venv/bin/python -m scripts.preset_from_trial sqlite:///studies/arch_8000.db --trial 17 \
        --name tiny [--study NAME]

The preset holds exactly what the trial's confirmation runs trained differently from the default
recipe (the resolved config of one of its runs against ``python -m mnist_sweep``'s), so
``experiment=NAME`` trains that recipe; its header names the study, the trial, the search command
that proposed it, the confirmation commands and the figures the study recorded for it: its latest
confirmation (``confirmed/<trial>``, or ``confirmed/<trial>/<k>`` of a trial confirmed again) with
every earlier one of the same overrides, as when its seeds were split over several processes.
``benchmarks/benchmark.py --from-runs NAME SWEEP`` checks the match.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from mnist_sweep import trial_attrs
from mnist_sweep.config import recipe, to_plain
from mnist_sweep.confirm import compose_run, open_study, search_seeds
from mnist_sweep.formats import pct
from mnist_sweep.groups import CONF
from mnist_sweep.record import RunRecord

REPO = Path(__file__).resolve().parents[1]

GROUPS = ("model", "aug", "optim", "sched")  # config groups whose option a preset may override


def differences(run: dict, default: dict, raw: dict) -> dict[str, Any]:
    """The values of ``run`` that differ from ``default`` (``raw``: the same, unresolved),
    nested as in the config; a default that is an interpolation follows what it names."""
    out: dict[str, Any] = {}
    for key, value in run.items():
        base, unresolved = default.get(key), raw.get(key)
        if isinstance(unresolved, str) and unresolved.startswith("${"):
            continue
        if isinstance(value, dict) and isinstance(base, dict):
            inner = differences(value, base, unresolved)
            if inner:
                out[key] = inner
        elif value != base:
            out[key] = value
    return out


COMMAND = "  "  # a header line that starts so is a command, wrapped with a backslash


def comment(text: str) -> str:
    """``text`` as comment lines of at most 100 characters."""
    command = text.startswith(COMMAND)
    lines = textwrap.wrap(
        text.strip(),
        width=95 if command else 98,
        break_long_words=False,
        break_on_hyphens=False,
    )
    if command:
        return " \\\n".join(f"#   {line}" for line in lines) + "\n"
    return "".join(f"# {line}\n" for line in lines)


def shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("storage")
    parser.add_argument("--study")
    parser.add_argument("--trial", type=int, required=True)
    parser.add_argument("--name", required=True, help="conf/experiment/NAME.yaml")
    parser.add_argument("--note", default="", help="first comment lines: what the preset is")
    parser.add_argument("--out", type=Path, help="where to write it (conf/experiment/NAME.yaml)")
    parser.add_argument("--found-by", default="", help="the search's command, for the header")
    args = parser.parse_args()
    study = open_study(args.storage, args.study)
    confirmed = trial_attrs.same_recipe_confirmation(study.user_attrs, args.trial)
    if confirmed is None:
        sys.exit(f"trial {args.trial} of {study.study_name!r} has not been confirmed yet.")
    sweep = Path(confirmed["sweep"])
    jobs = sorted(sweep.glob("*/.hydra/config.yaml"))  # any seed's: the same recipe
    if not jobs:
        sys.exit(f"{sweep} holds no confirmation run of trial {args.trial}: moved or deleted.")
    job = jobs[0]
    run = to_plain(OmegaConf.load(job))
    composed, chosen = compose_run([])
    default = to_plain(composed)
    raw = OmegaConf.to_container(composed, resolve=False)
    preset = differences(recipe(run), recipe(default), raw)
    preset.pop("model", None)
    choices = RunRecord.read(job.parent.parent).choices or {}
    overrides = [  # a list group's options are recorded joined by "+" (run.group_choices)
        {
            f"override /{group}": choices[group].split("+")
            if "+" in choices[group]
            else choices[group]
        }
        for group in GROUPS
        if group in choices and choices[group] != chosen.get(group)
    ]
    trial = next(t for t in study.trials if t.number == args.trial)
    job_overrides = OmegaConf.load(Path(trial_attrs.run_dir(trial)) / ".hydra" / "overrides.yaml")
    seeds = " ".join(map(str, confirmed["seeds"]))
    per_seed = ", ".join(
        f"{s}: {pct(a, unit='')}"
        for s, a in zip(confirmed["seeds"], confirmed["test_acc"], strict=True)
    )
    searched = ", ".join(map(str, sorted(search_seeds(study.trials))))
    confirms = [
        COMMAND + f"python -m mnist_sweep.confirm {args.storage} --study {study.study_name} "
        f"--trials {args.trial} --seeds {' '.join(map(str, part['seeds']))} "
        f"--set {shlex.join(part.get('set') or [])}"
        for part in confirmed["parts"]
    ]
    header = [
        *([args.note] if args.note else []),
        f"Found by study {study.study_name!r} ({args.storage}), trial {args.trial}: validation "
        f"accuracy {pct(trial.value, unit='')} %, {trial_attrs.params(trial):,} parameters.",
        *([f"The search: {args.found_by}"] if args.found_by else []),
        "The trial's job ran:",
        COMMAND + f"python -m mnist_sweep {shlex.join(map(str, job_overrides))}",
        f"Confirmed on held-out seeds {seeds} (the search trained with seeds {searched}):",
        *confirms,
        f"final-epoch test accuracy {per_seed}; mean {pct(confirmed['mean'], unit='')} ± "
        f"{pct(confirmed['std'], unit='')} %, worst {pct(confirmed['worst'], unit='')} %.",
        "Written by scripts/preset_from_trial.py from the runs in "
        f"{', '.join(shown(Path(s)) for s in confirmed['sweeps'])}.",
    ]
    model = {k: v for k, v in run["model"].items() if k != "_target_"}  # the whole model, always
    body = ({"defaults": overrides} if overrides else {}) | {"model": model} | preset
    text = "# @package _global_\n" + "".join(map(comment, header))
    text += yaml.safe_dump(body, sort_keys=False, default_flow_style=None)
    out = args.out or CONF / "experiment" / f"{args.name}.yaml"
    out.write_text(text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
