"""A headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages ending in NUL on file descriptors 3 and 4), so no driver or extra package is needed.
Used by the browser tests and by the scripts that take screenshots and time pages.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = next(
    filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--remote-debugging-pipe",
]
TIMEOUT = 30.0
STARTUP_TIMEOUT = 120.0  # a first start on a cold CI machine loads ~300 MB and builds caches


class Chromium:
    """A headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        self._log = profile.with_name(profile.name + ".log")
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()

        def on_fds_3_and_4() -> None:  # Chromium reads commands on fd 3, answers on fd 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome, from_chrome)]
            for fd, target in zip(high, (3, 4), strict=True):  # pipes may be 3 or 4 themselves
                os.dup2(fd, target)
                os.set_inheritable(target, True)

        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                close_fds=False,  # only fds 3 and 4 are inheritable (PEP 446): no other fd leaks
                preexec_fn=on_fds_3_and_4,
            )
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        try:
            target = self.send("Target.createTarget", timeout=STARTUP_TIMEOUT, url="about:blank")[
                "targetId"
            ]
            self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.send(f"{domain}.enable", session=True)
            self.send(
                "Emulation.setDeviceMetricsOverride",
                session=True,
                width=1280,
                height=900,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()
        os.close(self._write)
        os.close(self._read)

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._read], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._read, 1 << 16) if ready else b""
            if not chunk:
                raise TimeoutError(self._silence())
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _silence(self) -> str:
        """Why no answer came: whether Chromium still runs, and the end of what it printed."""
        code = self._proc.poll()
        state = "still running" if code is None else f"exited with code {code}"
        tail = self._log.read_text(errors="replace").splitlines()[-15:]
        return "Chromium did not answer over the DevTools pipe ({}); its last output:\n{}".format(
            state, "\n".join(tail) or "(nothing)"
        )

    def send(
        self, method: str, *, session: bool = False, timeout: float = TIMEOUT, **params: Any
    ) -> dict[str, Any]:
        """Call a DevTools method (on the page when ``session``) and return its result."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self._session
        try:
            os.write(self._write, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError:
            raise TimeoutError(self._silence()) from None
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def open(self, page: Path) -> None:
        """Load a file and wait for its load event; events start afresh."""
        self.events.clear()
        self.send("Page.navigate", session=True, url=page.resolve().as_uri())
        self.wait_for_load()

    def wait_for_load(self) -> None:
        """Wait until a page loaded since ``events`` was last cleared."""
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._message(deadline))

    def js(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the middle of the element."""
        box = self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                session=True,
                type=kind,
                x=box[0],
                y=box[1],
                button="left",
                clickCount=1,
            )

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads since the page was opened."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params["exceptionDetails"]))
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(str(params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
            elif method == "Network.loadingFailed":
                found.append(f"failed to load: {params}")
        return found

    def requests(self) -> list[str]:
        """URLs the page asked for, other than itself and data: URIs."""
        urls = (
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        )
        page = self.js("location.href")
        return [u for u in urls if not u.startswith("data:") and u != page]
