"""The docs' screenshots of the leaderboard and the study view, from a real tiny Optuna sweep,
taken with headless Chromium.

    python -m scripts.screenshots [--out docs/screenshots] [--sweep-dir DIR]

Runs ``hparams_search=widths`` with the median pruner for 10 trials of up to 4 epochs on 2,048
images (about 30 s on 2 CPU cores) in ``--sweep-dir`` (a temporary folder by default; an
existing sweep there is reused), rebuilds its leaderboard, builds the study view with
``python -m mnist_sweep.report sqlite:///studies/widths.db`` and writes ``leaderboard.png`` and
``study.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers.chromium import Chromium

SWEEP = [
    "hparams_search=widths",
    "hydra/sweeper/pruner=median",
    "hydra.sweeper.pruner.n_startup_trials=3",
    "hydra.sweeper.n_trials=10",
    "data.train_subset=2048",
    "data.val_size=1000",
    "trainer.epochs=4",
    "trainer.batch_size=128",
    "device=cpu",
    "device.threads=1",
]
WIDTH = 1200


def run(args: list[str], cwd: Path) -> None:
    subprocess.run([sys.executable, *args], cwd=cwd, check=True, env=os.environ.copy())


def shoot(chromium: Chromium, page: Path, out: Path, first: str, last: str) -> None:
    """A PNG of ``page`` from the top of element ``first`` to the bottom of ``last``."""
    chromium.open(page)
    time.sleep(0.5)  # canvases draw after the load event
    top, bottom = chromium.js(
        f"[document.querySelector('{first}').getBoundingClientRect().top + scrollY,"
        f" document.querySelector('{last}').getBoundingClientRect().bottom + scrollY]"
    )
    clip = {"x": 0, "y": top - 12, "width": WIDTH, "height": bottom - top + 24, "scale": 1}
    shot = chromium.send(
        "Page.captureScreenshot",
        session=True,
        format="png",
        clip=clip,
        captureBeyondViewport=True,
    )
    out.write_bytes(base64.b64decode(shot["data"]))
    print(f"{out}: {out.stat().st_size / 1000:.0f} kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--sweep-dir", type=Path, help="where the sweep runs (default: temporary)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        where = (args.sweep_dir or Path(tmp) / "sweep").resolve()
        where.mkdir(parents=True, exist_ok=True)
        if not (where / "studies" / "widths.db").exists():
            run(["-m", "mnist_sweep", "-m", *SWEEP], where)
        sweep_dir = next((where / "multirun").glob("*/*/"))
        run(["-m", "mnist_sweep.report", str(sweep_dir)], where)  # as this version draws it
        run(["-m", "mnist_sweep.report", "sqlite:///studies/widths.db"], where)
        leaderboard = sweep_dir / "leaderboard.html"
        chromium = Chromium(shutil.which("chromium") or "chromium", Path(tmp) / "profile")
        try:
            chromium.send(
                "Emulation.setDeviceMetricsOverride",
                session=True,
                width=WIDTH,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
            shoot(chromium, leaderboard, args.out / "leaderboard.png", "h1", "#leaderboard")
            study = where / "studies" / "widths.html"
            shoot(chromium, study, args.out / "study.png", "#study", "#curves")
        finally:
            chromium.close()


if __name__ == "__main__":
    main()
