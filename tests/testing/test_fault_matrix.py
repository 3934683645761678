"""The fault matrix: every fault at every phase of SAR, hyperthermia, PTT and PCE ends
with the outputs off within the monitor's period, a clear error or trip record, and no
event lost.  The counts are printed (also without ``-s``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.testing.fault_matrix import (
    PLANS,
    Case,
    cases,
    format_outcome,
    run_case,
    run_matrix,
    summary,
)

BENCHES = Path(__file__).resolve().parents[2] / "examples" / "benches"


@pytest.mark.timeout(1200)  # 189 cases on two workers: several minutes
def test_every_fault_at_every_phase_shuts_down_safely(tmp_path, capsys):
    outcomes = run_matrix(benches=BENCHES, data_dir=tmp_path, workers=2)
    counts = summary(outcomes)
    with capsys.disabled():  # shown in CI's output even without -s
        print("\nfault matrix: " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    unsafe = [format_outcome(o) for o in outcomes if not o.safe]
    assert not unsafe, "\n".join(unsafe)
    # SAR 4 phases x 16 faults, hyperthermia 2 x 18, PTT 2 x 19, PCE 3 x 17 (each with
    # SIGTERM, SIGHUP, an emergency-off raising, a NaN reading; the mouse plans also a
    # probe frozen under the default detection)
    assert counts["faults tried"] == len(cases()) == 64 + 36 + 38 + 51
    assert counts["safe shutdowns"] == counts["faults tried"]
    assert counts["events lost"] == 0
    assert all(o.injected and o.events_before > 0 for o in outcomes)
    # every plan, phase and fault kind was tried
    tried = {(o.case.plan, o.case.phase, o.case.kind, o.case.device) for o in outcomes}
    for spec in PLANS.values():
        for phase in spec.phases:
            for kind in ("drop", "garble", "delay", "disconnect"):
                assert (spec.name, phase, kind, "thermo") in tried
                assert (spec.name, phase, kind, spec.energizer) in tried
            for kind in ("sigterm", "sighup"):
                assert (spec.name, phase, kind, "process") in tried
            assert (spec.name, phase, "off_raises", spec.energizer) in tried
            assert (spec.name, phase, "nan_reading", "thermo") in tried
    by_kind = {o.case.kind: o for o in outcomes}
    assert by_kind["sigterm"].error.startswith("Terminated: stopped by SIGTERM")
    assert by_kind["off_raises"].tripped and by_kind["nan_reading"].tripped
    assert by_kind["probe_frozen"].trip_kind == "stuck_reading"


def test_the_matrix_notices_an_unsafe_outcome(tmp_path):
    """With the monitor disabled a broken guarded probe the plan does not read goes
    unnoticed: the judge must say so (it is not a rubber stamp)."""

    def no_monitor(config):
        config.safety.enabled = False

    case = Case("hyperthermia", "ramp", "probe_broken", "thermo", "skin")
    unsafe = run_case(case, BENCHES, tmp_path, edit=no_monitor)
    assert not unsafe.safe and not unsafe.tripped
    assert any("ended with a safety trip or a labctl error" in n for n in unsafe.notes)
    safe = run_case(case, BENCHES, tmp_path)
    assert safe.safe and safe.trip_kind == "invalid_reading"
