"""The live view's cost to a run, and how fast a reading reaches the page.

    python benchmarks/bench_view.py [--pairs 3] [--speed 1] [--screenshot docs/live-view.png]

Needs headless Chromium and its driver (Debian: chromium, chromium-driver) and the
``view`` and ``test`` extras.  Prints, measured in this one run:

1. **overhead**: the closed-loop hyperthermia run (30 min at 43 C, lockstep, writer and
   safety monitor on) with the live view served and a headless browser showing it,
   against the same run without a view, in alternating pairs; the median ratio of wall
   times (target: at most 1.05, i.e. at most 5 % slower).
2. **latency**: in realtime mode (``--speed`` virtual s per wall s), the wall time from
   each primary event leaving the RunEngine to the page showing its event count, polled
   in the browser every 50 ms; median and maximum (target: under 1 s).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "examples" / "benches" / "sim-mouse.yaml"
DEEP_TEXT = """
function deep(node) {
  let text = '';
  if (node.shadowRoot) text += deep(node.shadowRoot);
  for (const child of node.childNodes) {
    if (child.nodeType === 3) text += child.textContent + ' ';
    else if (child.nodeName !== 'STYLE' && child.nodeName !== 'SCRIPT') text += deep(child);
  }
  return text;
}
return deep(document.body);
"""
EVENTS = re.compile(r"events\s+(\d+)")


def browser(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1300,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(120)
    return driver


def plan(bench, hold_s: float):
    from labctl.plans import magnetic_hyperthermia

    return magnetic_hyperthermia(
        bench.amf, bench.thermo, target=43.0, hold=hold_s, frequency=230e3, max_field=12.0
    )


def timed_run(data_dir: str, driver=None) -> float:
    """Wall s of the lockstep run, with the view and ``driver`` showing it if given."""
    from labctl.bench import Bench
    from labctl.view.server import LiveView

    with Bench.from_file(BENCH, mode="sim", data_dir=data_dir) as bench:
        view = None
        if driver is not None:
            view = LiveView.for_bench(bench)
            view.start()
            driver.get(view.url)
        t0 = time.perf_counter()
        if view is not None:
            view.controls.run(plan(bench, 1800.0))
        else:
            bench.RE(plan(bench, 1800.0))
        wall = time.perf_counter() - t0
        if view is not None:
            view.stop(linger_s=0.0)
    return wall


def overhead(pairs: int, driver) -> list[float]:
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        timed_run(tmp)  # warm-up: imports, first store
        for i in range(pairs):
            if i % 2:
                on, off = timed_run(tmp, driver), timed_run(tmp)
            else:
                off, on = timed_run(tmp), timed_run(tmp, driver)
            ratios.append(on / off)
            print(f"  pair {i + 1}: without view {off:.2f} s, with view {on:.2f} s", flush=True)
    return ratios


def latency(speed: float, seconds: float, driver, screenshot: str | None) -> list[float]:
    from labctl.bench import Bench
    from labctl.view.server import LiveView

    emitted: dict[int, float] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Bench.from_file(BENCH, mode="sim", clock="realtime", speed=speed, data_dir=tmp) as bench,
    ):
        view = LiveView.for_bench(bench)
        primary: set[str] = set()

        def stamp(name, doc):
            if name == "descriptor" and doc.get("name") == "primary":
                primary.add(doc["uid"])
            elif name == "event" and doc["descriptor"] in primary:
                emitted[doc["seq_num"]] = time.time()

        bench.RE.subscribe(stamp)
        view.start()
        driver.get(view.url)
        delays: list[float] = []
        watcher = threading.Thread(target=watch, args=(driver, emitted, delays, seconds))
        watcher.start()
        timer = threading.Timer(seconds + 5.0, view.controls.abort, args=("benchmark done",))
        timer.start()
        try:
            view.controls.run(plan(bench, 7200.0))
        finally:
            timer.cancel()
            watcher.join()
        if screenshot:
            driver.save_screenshot(screenshot)
        view.stop(linger_s=0.0)
    return delays


def watch(driver, emitted: dict, delays: list, seconds: float) -> None:
    """Poll the page's event count; each new count's delay since that event left."""
    shown = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        match = EVENTS.search(driver.execute_script(DEEP_TEXT))
        now = time.time()
        if match and int(match.group(1)) > shown:
            shown = int(match.group(1))
            if shown in emitted:
                delays.append(now - emitted[shown])
        time.sleep(0.05)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="overhead: run pairs (0: skip)")
    parser.add_argument("--speed", type=float, default=1.0, help="latency: realtime speed")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency: wall s watched")
    parser.add_argument("--screenshot", help="save the page of the realtime run as PNG here")
    args = parser.parse_args(argv)
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        print("bench_view: needs chromium and chromedriver", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            ratios = []
            if args.pairs:
                print("overhead (30 min closed loop, lockstep):", flush=True)
                ratios = overhead(args.pairs, driver)
            delays = latency(args.speed, args.seconds, driver, args.screenshot)
        finally:
            driver.quit()
    if ratios:
        ratio = statistics.median(ratios)
        print(
            f"view overhead: {ratio:.3f}x the run without a view "
            f"({(ratio - 1) * 100:+.1f} %, target <= +5 %; median of {len(ratios)} pairs)"
        )
    if delays:
        median = statistics.median(delays)
        print(
            f"update latency (realtime, {args.speed:g}x): median {median:.2f} s, "
            f"max {max(delays):.2f} s over {len(delays)} updates (target < 1 s)"
        )
    else:
        print("update latency: the page showed no event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
