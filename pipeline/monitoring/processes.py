"""Starting, waiting for and stopping the helper processes."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["MonitoringError", "get_json", "stop_process", "wait_until"]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


class MonitoringError(RuntimeError):
    """A helper process did not start, or exited."""


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    log_tail: Callable[[], str] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if condition():
                return
        time.sleep(0.3)
    raise MonitoringError(f"timed out after {timeout:g}s waiting for {what}\n{log_tail()}")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, and SIGKILL if it has not exited within the timeout."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def get_json(url: str, timeout: float = 10) -> Any:
    """The JSON body of a GET, also of a 4xx answer (an API's error document)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        return json.loads(err.read())
