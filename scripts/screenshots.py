"""Screenshots of report pages in headless Chromium, for the README.

python scripts/screenshots.py PAGE.html OUT.png [--height 1400] [--width 1280]
"""

from __future__ import annotations

import argparse
import base64
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_browser import Chromium  # noqa: E402


def shoot(chromium: Chromium, page: Path, out: Path, width: int, height: int) -> None:
    chromium.send(
        "Emulation.setDeviceMetricsOverride",
        session=True,
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    chromium.open(page)
    time.sleep(0.5)
    shot = chromium.send("Page.captureScreenshot", session=True, format="png")
    out.write_bytes(base64.b64decode(shot["data"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1400)
    parser.add_argument("--scroll-to", help="CSS selector to scroll to the top first")
    args = parser.parse_args()
    binary = shutil.which("chromium") or shutil.which("google-chrome")
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        chromium = Chromium(binary, Path(tmp) / "profile")
        try:
            shoot(chromium, args.page, args.out, args.width, args.height)
        finally:
            chromium.close()
    print(args.out)


if __name__ == "__main__":
    main()
