"""The docs' screenshots of the leaderboard and the study view, from real sweeps, taken with
headless Chromium.

    python -m scripts.screenshots [--out docs/screenshots] [--sweep-dir DIR] [--search-dir DIR]
                                  [--only {leaderboard,study}]

``leaderboard.png``: the leaderboard of a first sweep of the default recipe over three
augmentations, ``python -m mnist_sweep -m aug=rotate,hflip,vflip`` (three full 7-epoch runs, about
2 minutes on 2 CPU cores), run in a temporary folder, or an existing sweep folder of it given as
``--sweep-dir``. ``study.png``: the study view of ``hparams_search=widths`` with the median pruner
for 10 trials of up to 4 epochs on 2,048 images (about 30 s on 2 CPU cores), run in
``--search-dir`` (a temporary folder by default; an existing search there is reused). Each page is
rebuilt with ``python -m mnist_sweep.report`` before its screenshot; MNIST comes from
``$MNIST_SWEEP_DATA``, else the repository's ``data/``. ``--only`` makes one of the two.
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

REPO = Path(__file__).resolve().parents[1]
FIRST_SWEEP = ["aug=rotate,hflip,vflip"]  # the default recipe, otherwise as it stands
SEARCH = [
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
BOARD_WIDTH = 1400  # the whole runs table, machine column included


def run(args: list[str], cwd: Path) -> None:
    env = os.environ.copy()
    env.setdefault("MNIST_SWEEP_DATA", str(REPO / "data"))
    subprocess.run([sys.executable, *args], cwd=cwd, check=True, env=env)


def sweep(overrides: list[str], where: Path) -> Path:
    """Run ``python -m mnist_sweep -m OVERRIDES`` launched from ``where``; its sweep folder."""
    where.mkdir(parents=True, exist_ok=True)
    run(["-m", "mnist_sweep", "-m", *overrides], where)
    return next((where / "multirun").glob("*/*/"))


def shoot(chromium: Chromium, page: Path, out: Path, first: str, last: str, width: int) -> None:
    """A PNG of ``page`` in a window ``width`` pixels wide, from the top of element ``first`` to
    the bottom of ``last``, as wide as the page's column."""
    chromium.send(
        "Emulation.setDeviceMetricsOverride",
        session=True,
        width=width,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    chromium.open(page)
    time.sleep(0.5)  # canvases draw after the load event
    left, right, top, bottom = chromium.js(
        "[document.querySelector('main').getBoundingClientRect().left,"
        " document.querySelector('main').getBoundingClientRect().right,"
        f" document.querySelector('{first}').getBoundingClientRect().top + scrollY,"
        f" document.querySelector('{last}').getBoundingClientRect().bottom + scrollY]"
    )  # the page's column: no margins beside it in a window wider than the page
    clip = {
        "x": left,
        "y": top - 12,
        "width": right - left,
        "height": bottom - top + 24,
        "scale": 1,
    }
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
    parser.add_argument(
        "--sweep-dir",
        type=Path,
        help=f"a finished sweep folder of -m {' '.join(FIRST_SWEEP)} (default: run one)",
    )
    parser.add_argument(
        "--search-dir", type=Path, help="where the width search runs (default: temporary)"
    )
    parser.add_argument("--only", choices=("leaderboard", "study"), help="make only this one")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    shots = []  # (page, PNG, first element, last element, window width)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        if args.only != "study":
            sweep_dir = (args.sweep_dir or sweep(FIRST_SWEEP, Path(tmp) / "first")).resolve()
            run(["-m", "mnist_sweep.report", str(sweep_dir)], sweep_dir)  # as this version draws it
            leaderboard = sweep_dir / "leaderboard.html"
            png = args.out / "leaderboard.png"
            shots.append((leaderboard, png, "h1", "#leaderboard", BOARD_WIDTH))
        if args.only != "leaderboard":
            where = (args.search_dir or Path(tmp) / "search").resolve()
            if not (where / "studies" / "widths.db").exists():
                sweep(SEARCH, where)
            run(["-m", "mnist_sweep.report", "sqlite:///studies/widths.db"], where)
            study = where / "studies" / "widths.html"
            shots.append((study, args.out / "study.png", "#study", "#curves", WIDTH))
        chromium = Chromium(shutil.which("chromium") or "chromium", Path(tmp) / "profile")
        try:
            for shot in shots:
                shoot(chromium, *shot)
        finally:
            chromium.close()


if __name__ == "__main__":
    main()
