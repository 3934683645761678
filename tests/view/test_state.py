"""LiveState: what the page shows, from the documents of a real (lockstep) simulated run."""

from pathlib import Path

import pytest

from labctl.bench import Bench
from labctl.plans import magnetic_hyperthermia
from labctl.view.state import LiveState, Trace

BENCH = Path(__file__).resolve().parents[2] / "examples" / "benches" / "sim-mouse.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-minute hold at 41 C, lockstep; the state and the documents it was fed."""
    bench = Bench.from_file(BENCH, mode="sim", data_dir=tmp_path_factory.mktemp("data"))
    state = LiveState(path_provider=lambda: bench.last_run_path, max_points=50)
    docs = []
    bench.RE.subscribe(state)
    bench.RE.subscribe(lambda name, doc: docs.append((name, doc)))
    try:
        bench.RE(
            magnetic_hyperthermia(
                bench.amf, bench.thermo, target=41, hold=120, frequency=230000, max_field=12
            )
        )
        yield state, docs, bench.last_run_path
    finally:
        bench.close()


def test_every_thermometer_channel_and_the_limits_are_traced(run):
    state, _, _ = run
    temps = state.groups[0]
    labels = dict(temps.traces)
    assert {"thermo_tumor", "thermo_rectal", "thermo_skin", "control_setpoint", "target"} <= set(
        labels
    )
    assert labels["thermo_tumor"] == "tumor"
    assert state.limits_C and all(f"limit_{r}" in labels for r in state.limits_C)
    assert temps.y_label == "temperature (°C)"


def test_field_commanded_and_read_back_and_dose_in_units(run):
    state, _, _ = run
    titles = {g.title: g for g in state.groups}
    field = titles["amf field"]
    assert field.y_label == "field (kA/m)"
    assert [label for _, label in field.traces] == ["commanded", "read back"]
    assert titles["Thermal dose"].y_label == "CEM43 (min)"
    assert state.latest["thermo_tumor"][1] == "degC"
    assert state.latest["amf_field"][1] == "kA/m"


def test_times_are_bench_clock_minutes_not_wall_time(run):
    state, docs, _ = run
    primary = next(d["uid"] for n, d in docs if n == "descriptor" and d["name"] == "primary")
    stamps = [
        d["timestamps"]["thermo_tumor"]
        for n, d in docs
        if n == "event" and d["descriptor"] == primary
    ]
    assert state.elapsed_s == pytest.approx(stamps[-1] - stamps[0]) and state.elapsed_s > 120
    trace = state.traces["thermo_tumor"]
    kept = [s - stamps[0] for s in stamps][:: trace.stride]
    assert trace.t[0] == 0.0 and set(trace.t) <= {s - stamps[0] for s in stamps}
    assert len(trace.t) >= len(kept) // 2


def test_run_identity_status_and_safety(run):
    state, docs, path = run
    start = next(d for n, d in docs if n == "start")
    assert state.uid == start["uid"] and state.path == path
    assert state.status == "success"
    roles = {role for role, _, _ in state.margins()}
    assert "tumor" in roles
    for role, value, margin in state.margins():
        assert margin == pytest.approx(state.limits_C[role] - value)
    assert state.phase == "hold"
    assert state.remaining() == "0:00"


def test_updates_send_each_point_once_then_only_new_ones(run):
    state, _, _ = run
    seen = {}
    first = state.updates(seen)
    replace, t, y = first["thermo_tumor"]
    assert replace and len(t) == len(state.traces["thermo_tumor"].t) <= 50
    assert t[-1] == pytest.approx(state.traces["thermo_tumor"].t[-1] / 60.0)
    assert state.updates(seen) == {}


def test_trace_decimates_for_display_and_says_so():
    trace = Trace(max_points=10)
    for i in range(11):
        trace.add(float(i), float(i))
    assert trace.generation == 1 and trace.stride == 2
    assert trace.t == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    for i in range(11, 15):
        trace.add(float(i), float(i))
    assert trace.t[-2:] == [12.0, 14.0]
    seen = {}
    state = LiveState()
    state.traces = {"x": trace}
    assert state.updates(seen)["x"][0] is True
    trace.add(15.0, 15.0)
    trace.add(16.0, 16.0)
    replace, t, _ = state.updates(seen)["x"]
    assert not replace and t == [16.0 / 60.0]
