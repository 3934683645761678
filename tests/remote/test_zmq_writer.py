"""The zarr writer consuming documents over 0MQ (JSON and msgpack, through bluesky's
proxy whose consumer side is CURVE-encrypted, each consumer in a process of its own)
writes stores identical, byte for byte, to the in-process writer's for the same run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("zmq")
pytest.importorskip("msgpack")

from labctl.remote.services import (  # noqa: E402
    curve_certificates,
    start_consumer,
    start_proxy,
    wait_consumer,
)

pytestmark = pytest.mark.subprocess

BENCH = Path(__file__).resolve().parents[2] / "examples" / "benches" / "sim-vial.yaml"

# The RunEngine side: a bench writing its own store and publishing to the proxy with
# both serializers (told apart by prefix), then one short SAR run.
RUNNER = r"""
import json, sys, time
from labctl.bench import Bench
from labctl.plans import sar_measurement
from labctl.remote.publisher import make_publisher
cfg = json.loads(sys.argv[1])
bench = Bench.from_file(cfg["bench"], data_dir=cfg["local"])
pubs = [make_publisher(cfg["address"], serializer=s, prefix=s.encode())
        for s in ("json", "msgpack")]
for p in pubs:
    bench.RE.subscribe(p)
print("ready", flush=True)
sys.stdin.readline()  # the consumers have subscribed
time.sleep(0.5)  # PUB/SUB: let the connections through the proxy settle before the run
bench.RE(sar_measurement(bench.amf, bench.thermo, frequency=230000, field=8.0,
                         heat_time=20, cool_time=10, equilibrate=0, baseline=5,
                         sample={"components": [{"mass_g": 1.0, "c_J_per_gK": 4.186}],
                                 "iron_mass_mg": 2.0}))
time.sleep(0.5)
for p in pubs:
    p.close()
bench.close()
print(bench.last_run_path, flush=True)
"""


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _plain_subscriber(address: str):
    import zmq

    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(f"tcp://{address}")
    return sock


def _wait_for_stop(service, timeout=30.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stores = list(Path(service.info["data_dir"]).glob("*/*.zarr"))
        if stores and '"stop"' in (stores[0] / "zarr.json").read_text():
            return stores[0]
        time.sleep(0.1)
    raise AssertionError(f"{service.name} wrote no complete run:\n{service.log_tail()}")


def test_remote_writers_match_the_in_process_writer(tmp_path):
    # set iteration order in the writer follows the hash seed: give every process one
    env = {"PYTHONHASHSEED": "0"}
    curve = curve_certificates(tmp_path / "curve")
    proxy = start_proxy(tmp_path, curve=curve)
    consumers = []
    cfg = {"bench": str(BENCH), "local": str(tmp_path / "local"), "address": proxy.info["in"]}
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, json.dumps(cfg)],
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    try:
        for ser in ("json", "msgpack"):
            consumers.append(
                start_consumer(
                    tmp_path,
                    address=proxy.info["out"],
                    data_dir=tmp_path / ser,
                    serializer=ser,
                    prefix=ser,
                    curve=curve,
                    name=f"consumer-{ser}",
                    env=env,
                    wait=False,
                )
            )
        for c in consumers:
            wait_consumer(c)
        eavesdropper = _plain_subscriber(proxy.info["out"])
        assert runner.stdout.readline().strip() == "ready", runner.stderr.read()[-3000:]
        out, err = runner.communicate("go\n", timeout=120)
        assert runner.returncode == 0, err[-3000:]
        local_store = Path(out.strip().splitlines()[-1])
        remote_stores = [_wait_for_stop(c) for c in consumers]
        # without the CURVE keys a subscriber to the same output gets nothing
        assert not eavesdropper.poll(200)
        eavesdropper.close(linger=0)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
        for c in consumers:
            c.stop()
        proxy.stop()
    local = _files(tmp_path / "local")
    assert any(k.endswith("primary/thermo_sample/c/0") for k in local)
    assert any(k.endswith("journal.jsonl") for k in local)
    for c, store in zip(consumers, remote_stores, strict=True):
        assert store.name == local_store.name
        remote = _files(c.info["data_dir"])
        assert sorted(remote) == sorted(local), c.name
        differ = [k for k in local if local[k] != remote[k]]
        assert differ == [], f"{c.name}: {differ}"
