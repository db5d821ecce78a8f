"""Collect every metrics.json under the given roots into OUT/screen.csv and OUT/summary.txt.

Rows: sweep (the folder under the root: /tmp/screen/<sweep>/<job>, /tmp/runs/<name>), overrides,
seed, epochs, batch, status, val_acc, test_acc, train_seconds, wall_seconds, images_per_sec, params.
Summary: screening runs grouped by sweep + overrides without trainer.seed (and without the
overrides every screening run shares); val_acc only, never test_acc, for choosing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import yaml

COLS = [
    "sweep",
    "overrides",
    "seed",
    "epochs",
    "batch",
    "status",
    "val_acc",
    "test_acc",
    "train_seconds",
    "wall_seconds",
    "images_per_sec",
    "params",
    "gpu",
    "job",
    "error",
]


def batch_of(run_dir: Path, overrides: list[str]) -> int | None:
    for o in overrides:
        if o.startswith("trainer.batch_size="):
            return int(o.split("=", 1)[1])
    cfg = run_dir / ".hydra" / "config.yaml"
    try:
        return int(yaml.safe_load(cfg.read_text())["trainer"]["batch_size"])
    except Exception:
        return None


def rows(root: Path, kind: str) -> list[dict]:
    out = []
    for path in sorted(root.glob("**/metrics.json")):
        run_dir = path.parent
        try:
            m = json.loads(path.read_text())
        except Exception as exc:
            out.append(
                {
                    "sweep": kind + "/" + run_dir.relative_to(root).parts[0],
                    "status": "unreadable",
                    "error": str(exc),
                }
            )
            continue
        ov = list(m.get("overrides") or [])
        out.append(
            {
                "sweep": kind + "/" + run_dir.relative_to(root).parts[0],
                "overrides": " ".join(ov),
                "seed": m.get("seed"),
                "epochs": m.get("epochs"),
                "batch": batch_of(run_dir, ov),
                "status": m.get("status"),
                "val_acc": m.get("val_acc"),
                "test_acc": m.get("test_acc"),
                "train_seconds": m.get("train_seconds"),
                "wall_seconds": m.get("wall_seconds"),
                "images_per_sec": m.get("images_per_sec"),
                "params": m.get("params"),
                "gpu": m.get("gpu"),
                "job": m.get("job_num"),
                "error": (m.get("error") or "")[:160].replace("\n", " "),
                "_ov": ov,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("screen")
    ap.add_argument("runs")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    recs = rows(Path(a.screen), "screen") + rows(Path(a.runs), "check")
    if not recs:
        print("summarise: no metrics.json found")
        return
    df = pd.DataFrame(recs)
    for c in COLS:
        if c not in df:
            df[c] = None
    df = df.sort_values(["sweep", "epochs", "seed"], kind="stable", na_position="last")
    df[COLS].to_csv(out / "screen.csv", index=False)

    lines = []
    checks = df[df.sweep.str.startswith("check/")]
    if len(checks):
        lines.append("CHECK RUNS (test set, full data)")
        lines.append(
            checks[
                [
                    "sweep",
                    "status",
                    "test_acc",
                    "train_seconds",
                    "wall_seconds",
                    "images_per_sec",
                    "params",
                    "gpu",
                ]
            ].to_string(index=False)
        )
        lines.append("")
    scr = df[df.sweep.str.startswith("screen/")].copy()
    if len(scr):
        lists = [o if isinstance(o, list) else [] for o in scr["_ov"]]
        common = set.intersection(*(set(x) for x in lists)) if lists else set()
        scr["config"] = [
            " ".join(o for o in x if not o.startswith("trainer.seed=") and o not in common)
            for x in lists
        ]
        scr["ok"] = scr.status.eq("completed")
        done = scr[scr.ok]
        g = scr.groupby(["sweep", "config"], sort=False)
        summ = pd.DataFrame(
            {
                "epochs": g.epochs.first(),
                "batch": g.batch.first(),
                "n_run": g.size(),
                "n": g.ok.sum(),
            }
        )
        if len(done):
            gd = done.groupby(["sweep", "config"], sort=False)
            summ = summ.join(
                pd.DataFrame(
                    {
                        "val_mean": gd.val_acc.mean() * 100,
                        "val_min": gd.val_acc.min() * 100,
                        "val_std": gd.val_acc.std() * 100,
                        "med_train_s": gd.train_seconds.median(),
                        "med_wall_s": gd.wall_seconds.median(),
                    }
                )
            )
        bad = scr[~scr.ok]
        if len(bad):
            summ = summ.join(
                bad.groupby(["sweep", "config"], sort=False).status.first().rename("fail_status")
            )
            summ = summ.join(
                bad.groupby(["sweep", "config"], sort=False)
                .error.first()
                .str.slice(0, 50)
                .rename("first_error")
            )
        summ = summ.reset_index()
        lines.append(
            "SCREENING (validation accuracy %, per config; common overrides: "
            + " ".join(sorted(common))
            + ")"
        )
        with pd.option_context(
            "display.width",
            250,
            "display.max_colwidth",
            90,
            "display.max_rows",
            500,
            "display.float_format",
            "{:.3f}".format,
        ):
            drop = ("trainer.epochs=", "trainer.batch_size=", "optim.lr=")
            abbrev = {
                "aug.affine.degrees=8 aug.affine.translate=[0.08,0.08] "
                "aug.affine.scale=[0.92,1.08] aug.affine.shear=8": "mild_aug",
                "model=seed_net model.pool_before_bn=[True,False,False] "
                "model.dropout=0.0": "seed_net_pooled_nodrop",
                "trainer.label_smoothing=0.1": "ls0.1",
            }
            extra = []
            for c in summ.config:
                e = " ".join(o for o in c.split() if not o.startswith(drop))
                for k, v in abbrev.items():
                    e = e.replace(k, v)
                extra.append(e)
            summ["extra"] = extra
            summ["sweep"] = summ.sweep.str.replace("screen/", "", regex=False)
            for c in ("fail_status", "first_error"):
                if c in summ:
                    summ[c] = summ[c].fillna("")
            cols = [c for c in summ.columns if c not in ("config", "extra", "first_error")]
            cols += ["extra"] + (["first_error"] if "first_error" in summ else [])
            w = max(5, summ.extra.str.len().max())
            lines.append(
                summ[cols].to_string(index=False, formatters={"extra": lambda x: str(x).ljust(w)})
            )
            lines.append(
                "(extra: overrides beyond sweep/epochs/batch; batch 512 runs use "
                "optim.lr=0.4; mild_aug = degrees 8, translate 0.08, scale 0.92-1.08, "
                "shear 8; "
                "seed_net_pooled_nodrop = model=seed_net pool_before_bn=[T,F,F] "
                "dropout 0)"
            )
    text = "\n".join(lines) + "\n"
    (out / "summary.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
