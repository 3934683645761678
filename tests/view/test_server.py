"""``labctl run ... --view``: a realtime simulated run's live page in headless Chromium."""

import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from labctl.data import read_run
from labctl.view.controls import ABORT_REASON
from labctl.view.server import parse_address
from tests.view.conftest import click, wait_for_text

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "examples" / "protocols" / "magnetic-hyperthermia-43C.yaml"
TUMOR = re.compile(r"thermo_tumor\s+(\d+\.\d+) °C")


def _lines(proc) -> queue.Queue:
    """The process's stdout, line by line, read on a thread of its own."""
    lines: queue.Queue = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _line_starting(lines: queue.Queue, prefix: str, timeout_s: float = 120.0) -> str:
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no line starting {prefix!r} in: {''.join(seen)}")


def _tumor(browser, url: str) -> float:
    browser.get(url)
    text = wait_for_text(browser, lambda t: TUMOR.search(t))
    return float(TUMOR.search(text).group(1))


def _long_protocol(tmp_path) -> Path:
    """The example protocol held 2 h instead of 30 min (6 min of wall time at 20x), so a
    slow browser on a busy machine still meets the run before it ends."""
    text = PROTOCOL.read_text()
    assert "hold: 1800" in text and "bench: ../benches/sim-mouse.yaml" in text
    text = text.replace("hold: 1800", "hold: 7200")
    text = text.replace("../benches/", f"{PROTOCOL.parent.parent / 'benches'}/")
    path = tmp_path / "hyperthermia-2h.yaml"
    path.write_text(text)
    return path


@pytest.mark.subprocess
@pytest.mark.slow
def test_labctl_run_view_shows_the_run_live_and_aborts_it(browser, tmp_path):
    protocol = _long_protocol(tmp_path)
    cmd = [sys.executable, "-m", "labctl", "run", str(protocol), "--sim", "--speed", "20"]
    cmd += ["--view", "--data-dir", str(tmp_path / "data")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = _lines(proc)
        url = _line_starting(lines, "live view: http://127.0.0.1:").removeprefix("live view: ")
        first = _tumor(browser, url)
        time.sleep(3.0)  # 60 s of the experiment at 20x
        second = _tumor(browser, url)
        assert second != first
        click(browser, "Abort")
        wait_for_text(browser, lambda t: "aborting: outputs off" in t)
        browser.save_screenshot(str(tmp_path / "live-view-aborted.png"))
        result = _line_starting(lines, "run ")
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, stderr
    assert f"ended abort: {ABORT_REASON}; outputs are off" in stderr
    store = Path(result.rsplit("data in ", 1)[1])
    run = read_run(store)
    assert run.stop["exit_status"] == "abort" and run.stop["reason"] == ABORT_REASON
    assert (tmp_path / "live-view-aborted.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "text, expected",
    [
        (None, ("127.0.0.1", 0)),
        ("", ("127.0.0.1", 0)),
        ("0.0.0.0:8765", ("0.0.0.0", 8765)),
        (":8765", ("127.0.0.1", 8765)),
        ("[::1]:8765", ("::1", 8765)),
        ("myhost", ("myhost", 0)),
    ],
)
def test_view_address(text, expected):
    assert parse_address(text) == expected


def test_a_page_bound_beyond_loopback_needs_the_token(browser):
    from labctl.view.server import LiveView
    from labctl.view.state import LiveState

    view = LiveView(LiveState(), host="0.0.0.0")
    try:
        view.start()
        local = f"http://127.0.0.1:{view.port}/"
        browser.get(local)
        wait_for_text(browser, lambda t: "open the URL with its token" in t)
        browser.get(f"{local}?token={view.token}")
        text = wait_for_text(browser, lambda t: "waiting for a run" in t)
        assert "open the URL with its token" not in text
    finally:
        view.stop(linger_s=0.0)
    assert view.sessions == 1
