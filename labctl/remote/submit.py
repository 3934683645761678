"""Queue protocol files on a bench's RE Manager with bluesky-queueserver-api.

    QSERVER_ZMQ_PUBLIC_KEY=<key> python -m labctl.remote.submit \\
        --zmq-control-addr tcp://bench-host:60615 protocol1.yaml protocol2.yaml --wait

Each protocol file is checked here (structure, plan names and arguments) and queued as
one ``run_protocol`` item carrying its text; the RE Manager's bench builds every step,
validating it against the bench limits, before the first step runs.  The protocol's
``bench:`` key is not used: the RE Manager runs its own bench.  With ``--wait`` the
queue is started and the command prints, as JSON, each item's uid, exit status and
run uids, and exits non-zero if any item did not complete.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from labctl.core.errors import LabctlError

__all__ = ["protocol_item", "submit_protocols", "wait_for_items", "main"]


class SubmitError(LabctlError):
    """The RE Manager refused an item or a request."""


def protocol_item(path: str | Path):
    """A ``BPlan("run_protocol", ...)`` for a protocol file, checked locally first."""
    from bluesky_queueserver_api import BPlan

    from labctl.protocol.runner import load_protocol

    path = Path(path)
    text = path.read_text(encoding="utf-8")
    load_protocol(text=text, source=str(path))
    return BPlan("run_protocol", protocol=text, source=path.name)


def _check(response: dict, what: str) -> dict:
    if not response.get("success", False):
        raise SubmitError(f"{what}: {response.get('msg', response)}")
    return response


def submit_protocols(api, paths: Sequence[str | Path], *, start: bool = True) -> list[str]:
    """Queue one item per protocol file (in order); start the queue if asked.
    Returns the item uids."""
    uids = []
    for path in paths:
        response = _check(api.item_add(protocol_item(path)), f"queueing {path}")
        uids.append(response["item"]["item_uid"])
    if start:
        status = api.status()
        if status.get("manager_state") == "idle":
            _check(api.queue_start(), "starting the queue")
    return uids


def wait_for_items(
    api, uids: Sequence[str], *, timeout: float = 600.0, poll: float = 0.5
) -> list[dict]:
    """Wait until every item of ``uids`` is in the history, or the queue stopped (a failed
    item stops it); return their history entries in the order of ``uids`` (``result``:
    ``exit_status``, ``run_uids``, ``msg``), with ``exit_status`` "not run" for items
    still queued when the manager went idle."""
    deadline = time.monotonic() + timeout
    wanted = set(uids)
    idle_polls = 0
    while True:
        history = api.history_get().get("items", [])
        done = {item["item_uid"]: item for item in history if item.get("item_uid") in wanted}
        if len(done) == len(wanted):
            return [done[u] for u in uids]
        idle_polls = idle_polls + 1 if api.status().get("manager_state") == "idle" else 0
        if idle_polls >= 2:  # seen idle twice in a row: the queue has stopped
            not_run = {"exit_status": "not run", "run_uids": [], "msg": "queue stopped"}
            return [done.get(u, {"item_uid": u, "result": not_run}) for u in uids]
        if time.monotonic() > deadline:
            missing = sorted(wanted - set(done))
            raise SubmitError(f"items {missing} not finished within {timeout:g} s")
        time.sleep(poll)


def summary(item: dict) -> dict:
    result = item.get("result", {})
    return {
        "item_uid": item["item_uid"],
        "source": item.get("kwargs", {}).get("source"),
        "exit_status": result.get("exit_status"),
        "run_uids": result.get("run_uids", []),
        "msg": result.get("msg", ""),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labctl.remote.submit", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("protocols", nargs="+", help="protocol files (YAML)")
    parser.add_argument(
        "--zmq-control-addr",
        default=os.environ.get("QSERVER_ZMQ_CONTROL_ADDRESS", "tcp://127.0.0.1:60615"),
        help="RE Manager control socket (env QSERVER_ZMQ_CONTROL_ADDRESS)",
    )
    parser.add_argument(
        "--public-key-file",
        help="file holding the RE Manager's CurveZMQ public key (default: "
        "env QSERVER_ZMQ_PUBLIC_KEY)",
    )
    parser.add_argument("--wait", action="store_true", help="start the queue and wait")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")
    args = parser.parse_args(argv)
    from bluesky_queueserver_api.zmq import REManagerAPI

    from labctl.remote.services import close_api

    key = (
        Path(args.public_key_file).read_text().strip()
        if args.public_key_file
        else os.environ.get("QSERVER_ZMQ_PUBLIC_KEY") or None
    )
    api = REManagerAPI(zmq_control_addr=args.zmq_control_addr, zmq_public_key=key)
    try:
        uids = submit_protocols(api, args.protocols, start=args.wait)
        if not args.wait:
            print(json.dumps({"item_uids": uids}), flush=True)
            return 0
        items = [summary(i) for i in wait_for_items(api, uids, timeout=args.timeout)]
    finally:
        close_api(api)
    print(json.dumps(items, indent=2), flush=True)
    return 0 if all(i["exit_status"] == "completed" for i in items) else 3


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LabctlError as exc:
        print(f"labctl submit: {exc}", file=sys.stderr)
        sys.exit(2)
