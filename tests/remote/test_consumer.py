"""The 0MQ consumer refuses hostile messages one by one and keeps writing later runs;
a hostile start document cannot place a store outside the data directory."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("zmq")

from labctl.remote.consumer import MAX_MESSAGE_BYTES, _parse  # noqa: E402
from labctl.remote.serialization import deserializer  # noqa: E402

DECODE = deserializer("json")
EVIL_START = {"uid": "../../../evil", "time": 1.7e9, "scan_id": "../../..", "plan_name": "../x"}
EVIL_STOP = {
    "uid": "evil-stop",
    "time": 1.7e9,
    "run_start": "../../../evil",
    "exit_status": "success",
    "reason": "",
    "num_events": {},
}


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (b"p picture {}", "unknown document name"),
        (b"p start", "not '<prefix> <name> <document>'"),
        (b"p start {not json", "cannot be decoded"),
        (b"p start [1, 2]", "not a mapping"),
        (b"p event " + b"1" * (MAX_MESSAGE_BYTES + 1), "over the"),
        (b"p \xff\xfe {}", "unknown document name"),
        (b'p start {"uid": 5, "time": 1}', "not a valid start document"),
    ],
)
def test_hostile_messages_are_refused_with_a_reason(message, why):
    with pytest.raises(ValueError, match=why):
        _parse(message, b"", DECODE)


def test_a_valid_message_and_another_prefix():
    start = {"uid": "u", "time": 1.0}
    assert _parse(b"p start " + json.dumps(start).encode(), b"", DECODE) == ("start", start)
    assert _parse(b"other start {}", b"p", DECODE) is None


def test_hostile_scan_id_and_names_stay_inside_the_data_dir(tmp_path):
    from labctl.data.writer import run_path

    start = {"uid": "../../../evil", "time": 1.7e9, "scan_id": "../../..", "plan_name": "../x"}
    path = run_path(tmp_path, start)
    assert path.resolve().is_relative_to(tmp_path.resolve())
    assert ".." not in path.relative_to(tmp_path).parts
    assert path.name.startswith("0_x_")
    assert run_path(tmp_path, {"uid": "u", "time": float("nan")}).parent.parent == tmp_path


@pytest.mark.subprocess
def test_the_consumer_survives_hostile_messages_and_writes_the_next_run(tmp_path):
    import zmq
    from bluesky import RunEngine
    from bluesky.plans import count
    from ophyd.sim import det

    from labctl.remote.publisher import make_publisher
    from labctl.remote.services import start_consumer, start_proxy

    proxy = start_proxy(tmp_path)
    data_dir = tmp_path / "data"
    consumer = start_consumer(
        tmp_path, address=proxy.info["out"], data_dir=data_dir, serializer="json"
    )
    raw = zmq.Context.instance().socket(zmq.PUB)
    raw.connect(f"tcp://{proxy.info['in']}")
    publisher = make_publisher(proxy.info["in"], serializer="json")
    try:
        time.sleep(1.0)  # PUB/SUB: let the connections through the proxy settle
        hostile = [
            b" picture {}",
            b"garbage",
            b" start {not json",
            b" start [1, 2]",
            b" event " + b"1" * (MAX_MESSAGE_BYTES + 1),
            b" start " + json.dumps({"uid": 5}).encode(),
            b" stop " + json.dumps({"uid": "s", "run_start": "nothing"}).encode(),
            b" start " + json.dumps(EVIL_START).encode(),
            b" stop " + json.dumps(EVIL_STOP).encode(),
        ]
        for message in hostile:
            raw.send(message)
        time.sleep(0.5)
        RE = RunEngine({})
        RE.subscribe(publisher)
        RE(count([det], num=3))
        deadline = time.monotonic() + 30
        while True:
            stores = sorted(data_dir.glob("*/*.zarr"), key=lambda p: p.name)
            done = [p for p in stores if '"stop"' in (p / "zarr.json").read_text()]
            if done:
                break
            assert time.monotonic() < deadline, consumer.log_tail()
            time.sleep(0.1)
        log = consumer.log_tail()
    finally:
        raw.close(linger=0)
        publisher.close()
        consumer.stop()
        proxy.stop()
    assert "unknown document name 'picture'" in log
    assert "not a mapping" in log and "over the" in log
    assert "not a valid start document: '../../..' is not of type 'integer'" in log
    (store,) = stores  # the hostile starts made no store
    assert not [p for p in tmp_path.rglob("*.zarr") if not p.is_relative_to(data_dir)]
    from labctl.data import read_run

    assert read_run(store).stream().sizes["time"] == 3
    assert Path(store).name.startswith("1_count_")
