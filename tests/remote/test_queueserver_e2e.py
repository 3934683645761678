"""End to end on loopback: Redis, the RE Manager on the simulated vial bench (CurveZMQ
control socket), Tiled serving the data directory, and a 0MQ consumer writing a second
copy of every run; two protocols are queued from a separate process, waited for, and
their runs read back through Tiled."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

MISSING = [
    name
    for name in ("redis-server", "start-re-manager", "tiled")
    if shutil.which(name) is None
    and shutil.which(name, path=str(Path(sys.executable).parent)) is None
]
if MISSING:
    pytest.skip(
        f"{', '.join(MISSING)} not installed: install the 'remote' extra "
        "(pip install -e '.[remote]') and Debian's redis-server",
        allow_module_level=True,
    )

from bluesky_queueserver_api import BFunc, BPlan  # noqa: E402
from bluesky_queueserver_api.comm_base import (  # noqa: E402
    RequestFailedError,
    RequestTimeoutError,
)
from bluesky_queueserver_api.zmq import REManagerAPI  # noqa: E402

from labctl.data import read_run  # noqa: E402
from labctl.remote.services import close_api  # noqa: E402
from labctl.remote.stack import Stack  # noqa: E402
from labctl.remote.tiled_serve import run_key  # noqa: E402

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "examples" / "benches" / "sim-vial.yaml"
PROTOCOLS = [
    Path(__file__).with_name("protocols") / name
    for name in (
        "sar-vial-short.yaml",
        "hyperthermia-vial-short.yaml",
        "hyperthermia-over-limit.yaml",
    )
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("qs")
    # one hash seed for the worker and the consumer: their stores are then byte-identical
    with Stack(
        root / "work",
        bench=BENCH,
        data_dir=root / "data",
        consumer_data_dir=root / "remote",
        worker_env={"PYTHONHASHSEED": "0"},
    ) as s:
        yield s


@pytest.fixture(scope="module")
def submitted(stack):
    info = stack.describe()
    key_file = stack.workdir / "public.key"
    key_file.write_text(info["zmq_public_key"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("QSERVER_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "labctl.remote.submit",
            "--zmq-control-addr",
            info["zmq_control_addr"],
            "--public-key-file",
            str(key_file),
            "--wait",
            "--timeout",
            "180",
            *map(str, PROTOCOLS),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 3, (  # 3: not every item completed (the last one fails)
        proc.stdout,
        proc.stderr[-3000:],
        stack.services["re-manager"].log_tail(60),
    )
    return json.loads(proc.stdout)


@contextlib.contextmanager
def _tiled(stack):
    from tiled.client import from_uri

    info = stack.describe()
    client = from_uri(info["tiled_uri"], api_key=info["tiled_api_key"])
    try:
        yield client
    finally:
        client.context.close()


def test_protocols_complete_and_a_violating_one_energizes_nothing(submitted):
    assert [i["source"] for i in submitted] == [p.name for p in PROTOCOLS]
    assert [i["exit_status"] for i in submitted] == ["completed", "completed", "failed"]
    assert [len(i["run_uids"]) for i in submitted] == [1, 1, 0]
    assert (
        "exceeds" in submitted[2]["msg"] and "hyperthermia-over-limit.yaml" in submitted[2]["msg"]
    )


def test_runs_read_back_through_tiled(stack, submitted):
    with _tiled(stack) as client:
        _check_runs(client, stack, submitted)


def _check_runs(client, stack, submitted):
    by_uid = {client[k].metadata["start"]["uid"]: k for k in client}
    for item, protocol in zip(
        submitted[:2], ("sar-vial-short", "hyperthermia-vial-short"), strict=True
    ):
        uid = item["run_uids"][0]
        run = client[by_uid[uid]]
        assert run.metadata["start"]["protocol"] == protocol
        assert run.metadata["stop"]["exit_status"] == "success"
        served = run["primary"]["thermo_sample"].read()
        local = read_run(next(stack.data_dir.glob(f"*/{by_uid[uid]}.zarr")))
        np.testing.assert_array_equal(served, local.stream("primary")["thermo_sample"].values)
        assert len(served) > 20 and run["primary"]["thermo_sample"].metadata["units"] == "degC"
    mh = client[by_uid[submitted[1]["run_uids"][0]]]
    assert mh["primary"]["thermo_sample"].read().max() >= 39.5  # it reached the target
    assert set(mh["primary"]["thermo_sample_status"].read()) <= {"ok"}
    sar = client[by_uid[submitted[0]["run_uids"][0]]]
    assert sar["analysis"]["sar_initial_slope_W_per_g"].read()[0] > 0


def test_tiled_needs_the_api_key(stack, submitted):
    import httpx

    response = httpx.get(f"{stack.describe()['tiled_uri']}/api/v1/search/", timeout=10)
    assert response.status_code == 401


def test_the_consumer_wrote_identical_stores(stack, submitted):
    remote = Path(stack.consumer_data_dir)
    deadline = time.monotonic() + 30
    for item in submitted[:2]:
        uid = item["run_uids"][0]
        local = next(stack.data_dir.glob(f"*/*_{uid[:8]}.zarr"))
        copy = remote / local.parent.name / local.name
        while (
            not (copy / "zarr.json").is_file() or '"stop"' not in (copy / "zarr.json").read_text()
        ):
            assert time.monotonic() < deadline, stack.services["consumer"].log_tail()
            time.sleep(0.2)
        files = sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file())
        assert [f for f in files if (local / f).read_bytes() != (copy / f).read_bytes()] == []
        assert run_key(copy) == run_key(local)


def test_control_needs_the_curve_key_and_functions_are_refused(stack, submitted):
    address = stack.describe()["zmq_control_addr"]
    stranger = REManagerAPI(zmq_control_addr=address, timeout_recv=1.0, timeout_send=1.0)
    try:
        with pytest.raises(RequestTimeoutError):
            stranger.status()
    finally:
        close_api(stranger)
    api = stack.api()
    try:
        swapped = BPlan(
            "sar_measurement",
            "thermo",
            "amf",
            frequency=230000,
            field=8.0,
            heat_time=10,
            cool_time=10,
            sample={"heat_capacity_J_per_K": 4.2, "iron_mass_mg": 2.0},
        )
        with pytest.raises(RequestFailedError, match="Input should be 'amf'"):
            api.item_add(swapped)
        with pytest.raises(RequestFailedError, match="'print' is not allowed"):
            api.function_execute(BFunc("print", "hello"))
        assert api.status()["manager_state"] == "idle"
    finally:
        close_api(api)


def test_closing_the_environment_closes_the_bench(stack, submitted):
    """The orderly stop closes the worker environment: the bench switches outputs off."""
    manager = stack.services["re-manager"]
    stack.shutdown_manager()
    assert not manager.alive(), manager.info.get("shutdown_error")
    assert "labctl: bench sim-vial closed: outputs off" in manager.log_path.read_text()
