"""The queue-server worker namespace: the bench's RE, devices and annotated plans, the
queue server's own validation and plan preparation, and the safety guarantees."""

import threading
from pathlib import Path

import pytest

pytest.importorskip("bluesky_queueserver")

from bluesky.utils import RunEngineInterrupted  # noqa: E402
from bluesky_queueserver.manager.profile_ops import (  # noqa: E402
    check_if_function_allowed,
    existing_plans_and_devices_from_nspace,
    load_allowed_plans_and_devices,
    load_user_group_permissions,
    prepare_plan,
    validate_plan,
)

from labctl.core.errors import ConfigError, LimitError  # noqa: E402
from labctl.remote.qserver_env import build_namespace  # noqa: E402
from labctl.remote.services import PERMISSIONS_FILE  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "examples" / "benches" / "sim-vial.yaml"
SAMPLE = {"components": [{"mass_g": 1.0, "c_J_per_gK": 4.186}], "iron_mass_mg": 2.0}
SAR = {
    "frequency": 230000,
    "field": 8.0,
    "heat_time": 20,
    "cool_time": 10,
    "equilibrate": 0,
    "baseline": 5,
    "channel": "sample",
    "sample": SAMPLE,
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    ns = build_namespace(
        {"LABCTL_BENCH": str(BENCH), "LABCTL_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
    )
    plans, devices, plans_in_ns, devices_in_ns = existing_plans_and_devices_from_nspace(nspace=ns)
    allowed_plans, allowed_devices = load_allowed_plans_and_devices(
        existing_plans=plans,
        existing_devices=devices,
        path_user_group_permissions=str(PERMISSIONS_FILE),
    )
    yield {
        "ns": ns,
        "plans": plans,
        "devices": devices,
        "plans_in_ns": plans_in_ns,
        "devices_in_ns": devices_in_ns,
        "allowed_plans": allowed_plans,
        "allowed_devices": allowed_devices,
    }
    ns["bench"].close()


def _item(name, args=(), **kwargs):
    return {
        "name": name,
        "args": list(args),
        "kwargs": kwargs,
        "item_type": "plan",
        "user_group": "primary",
    }


def _prepare(env, item):
    return prepare_plan(
        item,
        plans_in_nspace=env["plans_in_ns"],
        devices_in_nspace=env["devices_in_ns"],
        allowed_plans=env["allowed_plans"],
        allowed_devices=env["allowed_devices"],
        nspace=env["ns"],
    )


def test_namespace_is_the_bench_with_annotated_plans(env):
    ns = env["ns"]
    bench = ns["bench"]
    assert ns["RE"] is bench.RE and bench.writer is not None and ns["publisher"] is None
    assert {"amf", "thermo", "laser"} <= set(env["devices"])
    assert {
        "sar_measurement",
        "magnetic_hyperthermia",
        "photothermal_therapy",
        "photothermal_conversion",
        "run_protocol",
    } <= set(env["plans"])
    params = {p["name"]: p for p in env["plans"]["sar_measurement"]["parameters"]}
    assert params["amf"]["annotation"]["devices"] == {"AmfDevice": ["amf"]}
    assert params["thermo"]["annotation"]["devices"] == {"ThermoDevice": ["thermo"]}
    assert params["frequency"]["annotation"]["type"] == "float"
    assert params["md"]["annotation"]["type"] == "dict | None"
    assert params["channel"]["default"] == "'sample'"


def test_queue_server_validates_items_against_the_annotations(env):
    ok = dict(
        allowed_plans=env["allowed_plans"]["primary"],
        allowed_devices=env["allowed_devices"]["primary"],
    )
    assert validate_plan(_item("sar_measurement", ["amf", "thermo"], **SAR), **ok) == (True, "")
    swapped, msg = validate_plan(_item("sar_measurement", ["thermo", "amf"], **SAR), **ok)
    assert not swapped and "Input should be 'amf'" in msg
    bad_type, msg = validate_plan(
        _item("sar_measurement", ["amf", "thermo"], **{**SAR, "field": "strong"}), **ok
    )
    assert not bad_type and "field" in msg
    unknown, _ = validate_plan(_item("sar_measurement", ["amf", "thermo"], **SAR, power=3), **ok)
    assert not unknown
    assert not validate_plan(_item("count", [["thermo"]]), **ok)[0]


def test_no_function_may_be_executed_remotely():
    perms = load_user_group_permissions(str(PERMISSIONS_FILE))
    for name in ("print", "exec", "run_protocol", "bench"):
        assert not check_if_function_allowed(
            name, group_name="primary", user_group_permissions=perms
        )


@pytest.mark.parametrize("how", ["abort", "halt"])
def test_pause_then_abort_or_halt_from_another_thread_switches_the_field_off(env, how):
    """As the RE Manager does: the plan runs in the main thread, the pause request comes
    from another thread, then the worker calls RE.abort()/RE.halt()."""
    bench, RE = env["ns"]["bench"], env["ns"]["RE"]
    emulator = bench.twin.emulators["amf"]
    parsed = _prepare(
        env,
        _item(
            "magnetic_hyperthermia",
            ["amf", "thermo"],
            target=40.0,
            hold=1800,
            frequency=230000,
            max_field=16.0,
            channel="sample",
        ),
    )
    heating = threading.Event()
    stops = []

    def watch(name, doc):
        if name == "event" and doc["data"].get("amf_output"):
            heating.set()
        if name == "stop":
            stops.append(doc)

    def pause_when_heating():
        heating.wait(60)
        RE.request_pause(defer=False)

    token = RE.subscribe(watch)
    thread = threading.Thread(target=pause_when_heating, daemon=True)
    thread.start()
    try:
        with pytest.raises(RunEngineInterrupted):
            RE(parsed["callable"](*parsed["args"], **parsed["kwargs"]))
        thread.join(10)
        assert RE.state == "paused" and heating.is_set()
        getattr(RE, how)()
    finally:
        RE.unsubscribe(token)
    assert RE.state == "idle"
    assert not emulator.heating and not bench.amf.output.get()
    assert stops[-1]["exit_status"] == "abort"


def test_a_protocol_with_a_violating_step_energizes_nothing(env):
    bench, RE = env["ns"]["bench"], env["ns"]["RE"]
    docs = []
    text = "\n".join(
        [
            "protocol: two-steps",
            "steps:",
            "  - plan: sar_measurement",
            "    args: {frequency: 230000, field: 8.0, heat_time: 20, cool_time: 10,",
            "           sample: {heat_capacity_J_per_K: 4.2, iron_mass_mg: 2.0}}",
            "  - plan: magnetic_hyperthermia",
            "    args: {target: 40, hold: 60, frequency: 354000, max_field: 19.0,",
            "           channel: sample}",
            "",
        ]
    )
    parsed = _prepare(env, _item("run_protocol", protocol=text, source="two-steps.yaml"))
    token = RE.subscribe(lambda name, doc: docs.append(name))
    try:
        with pytest.raises(LimitError, match="two-steps.yaml"):
            RE(parsed["callable"](*parsed["args"], **parsed["kwargs"]))
    finally:
        RE.unsubscribe(token)
    assert docs == [] and not bench.twin.emulators["amf"].heating


def test_a_protocol_runs_each_step_as_a_run(env):
    RE = env["ns"]["RE"]
    starts = []
    text = "\n".join(
        [
            "protocol: sar-twice",
            "metadata: {operator: qs}",
            "steps:",
            *[
                "  - plan: sar_measurement\n    args: {frequency: 230000, field: 8.0, heat_time: 4,"
                " cool_time: 2, equilibrate: 0, baseline: 1,\n"
                "           sample: {heat_capacity_J_per_K: 4.2, iron_mass_mg: 2.0}}"
            ]
            * 2,
            "",
        ]
    )
    parsed = _prepare(env, _item("run_protocol", protocol=text))
    token = RE.subscribe(lambda name, doc: starts.append(doc) if name == "start" else None)
    try:
        RE(parsed["callable"](*parsed["args"], **parsed["kwargs"]))
    finally:
        RE.unsubscribe(token)
    assert [s["protocol_step"] for s in starts] == [0, 1]
    assert all(s["protocol"] == "sar-twice" and s["operator"] == "qs" for s in starts)
    assert env["ns"]["bench"].last_run_path.is_dir()


def test_the_bench_file_is_required():
    with pytest.raises(ConfigError, match="LABCTL_BENCH"):
        build_namespace({})


def test_the_startup_module_builds_the_namespace_only_when_asked(monkeypatch, tmp_path):
    import runpy

    monkeypatch.delenv("LABCTL_BENCH", raising=False)
    bare = runpy.run_module("labctl.remote.qserver_startup")
    assert "RE" not in bare
    monkeypatch.setenv("LABCTL_BENCH", str(BENCH))
    monkeypatch.setenv("LABCTL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LABCTL_LOCAL_WRITER", "0")
    ns = runpy.run_module("labctl.remote.qserver_startup")
    try:
        assert ns["RE"] is ns["bench"].RE and ns["bench"].writer is None
        assert ns["amf"] is ns["bench"].amf and "run_protocol" in ns
    finally:
        ns["bench"].close()
