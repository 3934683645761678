"""Pause, resume and abort pressed in a real browser on the live page of a realtime run."""

import re
import threading
from pathlib import Path

from labctl.bench import Bench
from labctl.data import read_run
from labctl.plans import magnetic_hyperthermia
from labctl.view.controls import ABORT_REASON
from labctl.view.server import LiveView
from tests.view.conftest import click, wait_for_text

BENCH = Path(__file__).resolve().parents[2] / "examples" / "benches" / "sim-mouse.yaml"
TUMOR = re.compile(r"thermo_tumor\s+(\d+\.\d+) °C")


def _operator(browser, view, bench, seen: dict) -> None:
    """What a person at the page does: watch, pause, resume, abort."""
    amf = bench.twin.emulators["amf"]
    browser.get(view.url)
    wait_for_text(browser, lambda t: "amf_output 1.00" in t and TUMOR.search(t))
    seen["heating_before_pause"] = amf.heating
    click(browser, "Pause")
    seen["paused_text"] = wait_for_text(browser, lambda t: "paused" in t)
    seen["heating_while_paused"] = amf.heating
    click(browser, "Resume")
    wait_for_text(browser, lambda t: "status running" in t)
    click(browser, "Abort")
    seen["abort_text"] = wait_for_text(browser, lambda t: "aborting" in t or "abort" in t)


def test_pause_resume_abort_from_the_page(browser, tmp_path):
    bench = Bench.from_file(BENCH, mode="sim", clock="realtime", speed=10, data_dir=tmp_path)
    view = LiveView.for_bench(bench)
    docs = []
    bench.RE.subscribe(lambda name, doc: docs.append((name, doc)))
    seen, errors = {}, []

    def operate():
        try:
            _operator(browser, view, bench, seen)
        except BaseException as exc:  # the run must end even if the page fails
            errors.append(exc)
            view.controls.abort("test failed")

    try:
        assert view.start().startswith("live view: http://127.0.0.1:")
        operator = threading.Thread(target=operate)
        operator.start()
        view.controls.run(
            magnetic_hyperthermia(
                bench.amf, bench.thermo, target=43, hold=3600, frequency=230000, max_field=12
            )
        )
        operator.join(timeout=120)
        if errors:
            raise errors[0]
        # asked of the instruments themselves, before the bench closes
        assert not bench.twin.emulators["amf"].heating
        assert not bench.twin.emulators["laser"].emission_on
        path = bench.last_run_path
        wait_for_text(browser, lambda t: ABORT_REASON in t)
        browser.save_screenshot(str(tmp_path / "live-view-aborted.png"))
    finally:
        view.stop()
        bench.close()
    assert seen["heating_before_pause"] and not seen["heating_while_paused"]
    run = read_run(path)
    assert run.stop["exit_status"] == "abort"
    assert run.stop["reason"] == ABORT_REASON
    descriptor = next(d["uid"] for n, d in docs if n == "descriptor" and d["name"] == "primary")
    emitted = [d for n, d in docs if n == "event" and d["descriptor"] == descriptor]
    assert len(run.stream("primary")["thermo_tumor"]) == len(emitted) > 0
