"""``Stack``: Redis, the RE Manager, Tiled and optionally a 0MQ proxy and a consumer,
started together on loopback and stopped together (the RE Manager the orderly way).

    python -m labctl.remote.services --bench FILE --data-dir DIR --workdir DIR
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from labctl.remote.process import Service, secret_file
from labctl.remote.services import (
    _api,
    close_api,
    curve_certificates,
    curve_keypair,
    start_consumer,
    start_proxy,
    start_re_manager,
    start_redis,
    start_tiled,
)

__all__ = ["Stack", "main"]


class Stack:
    """Redis + RE Manager (environment opened) + Tiled, optionally a 0MQ proxy and a
    consumer writing ``consumer_data_dir``; keys in ``workdir/keys.json`` (mode 0600)."""

    def __init__(
        self,
        workdir: str | Path,
        *,
        bench: str | Path,
        data_dir: str | Path,
        consumer_data_dir: str | Path | None = None,
        serializer: str = "msgpack",
        worker_env: dict | None = None,
        open_environment: bool = True,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.bench = bench
        self.data_dir = Path(data_dir)
        self.consumer_data_dir = consumer_data_dir
        self.serializer = serializer
        self.worker_env = dict(worker_env or {})
        self.open_environment = open_environment
        self.services: dict[str, Service] = {}
        self.public_key, self._private_key = curve_keypair()

    def start(self) -> Stack:
        """Start every service (Tiled in parallel: its import alone takes seconds)."""
        from concurrent.futures import ThreadPoolExecutor

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        s = self.services
        with ThreadPoolExecutor(1) as pool:
            tiled = pool.submit(start_tiled, self.workdir, data_dir=self.data_dir)
            try:
                s["redis"] = start_redis(self.workdir)
                env = dict(self.worker_env)
                if self.consumer_data_dir is not None:
                    curve = curve_certificates(self.workdir / "curve")
                    s["proxy"] = start_proxy(self.workdir, curve=curve)
                    s["consumer"] = start_consumer(
                        self.workdir,
                        address=s["proxy"].info["out"],
                        data_dir=self.consumer_data_dir,
                        serializer=self.serializer,
                        curve=curve,
                        env=self.worker_env,
                    )
                    env |= {
                        "LABCTL_ZMQ_PUBLISH": s["proxy"].info["in"],
                        "LABCTL_ZMQ_SERIALIZER": self.serializer,
                    }
                s["re-manager"] = start_re_manager(
                    self.workdir,
                    bench=self.bench,
                    redis=s["redis"],
                    data_dir=self.data_dir,
                    private_key=self._private_key,
                    env=env,
                )
                if self.open_environment:
                    self.open()
                s["tiled"] = tiled.result()
                secret_file(self.workdir / "keys.json", json.dumps(self.describe(), indent=2))
            except BaseException:
                if tiled.exception() is None:
                    s["tiled"] = tiled.result()
                self.stop()
                raise
        return self

    def api(self, timeout: float = 10.0):
        """A ``bluesky_queueserver_api.zmq.REManagerAPI`` on the control socket."""
        manager = self.services["re-manager"]
        return _api(manager.address, self.public_key, timeout, manager.info["zmq_info_addr"])

    def open(self, timeout: float = 60.0) -> None:
        """Open the worker environment (loads the bench) and wait until it is idle."""
        api = self.api()
        try:
            api.environment_open()
            api.wait_for_idle(timeout=timeout)
            if not api.status().get("worker_environment_exists"):
                raise self.services["re-manager"].fail("worker environment did not open")
        finally:
            close_api(api)

    def describe(self) -> dict:
        """Addresses and client keys (the Tiled API key and the control public key)."""
        s = self.services
        out = {
            "zmq_control_addr": s["re-manager"].address,
            "zmq_info_addr": s["re-manager"].info["zmq_info_addr"],
            "zmq_public_key": self.public_key,
        }
        if "tiled" in s:
            out |= {"tiled_uri": s["tiled"].address, "tiled_api_key": s["tiled"].info["api_key"]}
        if "proxy" in s:
            out |= {"zmq_proxy_in": s["proxy"].info["in"], "zmq_proxy_out": s["proxy"].info["out"]}
        return out

    def shutdown_manager(self, timeout: float = 30.0) -> None:
        """Stop the RE Manager the orderly way: abort a running or paused plan (outputs
        off through the devices), close the worker environment (the bench is closed)
        and stop the manager.  Errors are left to the process kill that follows."""
        from bluesky_queueserver_api.api_base import WaitTimeoutError
        from bluesky_queueserver_api.comm_base import RequestFailedError, RequestTimeoutError

        manager = self.services.get("re-manager")
        if manager is None or not manager.alive():
            return
        api = self.api(timeout=5.0)
        try:
            state = api.status().get("manager_state")
            if state in ("executing_queue", "paused"):
                api.queue_stop()
                if state == "executing_queue":
                    api.re_pause(option="immediate")
                    api.wait_for_idle_or_paused(timeout=timeout)
                if api.status().get("manager_state") == "paused":
                    api.re_abort()
                    api.wait_for_idle(timeout=timeout)
            if api.status().get("worker_environment_exists"):
                api.environment_close()
                api.wait_for_idle(timeout=timeout)
            api.send_request(method="manager_stop", params={"option": "safe_on"})
            manager.process.wait(timeout)
        except (
            RequestFailedError,
            RequestTimeoutError,
            WaitTimeoutError,
            subprocess.TimeoutExpired,
            OSError,
        ) as exc:
            manager.info["shutdown_error"] = str(exc)
        finally:
            close_api(api)

    def stop(self) -> None:
        """Stop every service, the RE Manager first and the orderly way (its worker closes
        the bench: outputs off)."""
        try:
            self.shutdown_manager()
        finally:
            order = ["re-manager", "tiled", "consumer", "proxy", "redis"]
            for name in order + [n for n in list(self.services) if n not in order]:
                service = self.services.pop(name, None)
                if service is not None:
                    service.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    parser = argparse.ArgumentParser(
        prog="python -m labctl.remote.services",
        description="Start Redis, the RE Manager on a bench and Tiled on 127.0.0.1; print "
        "their addresses; stop them all on Ctrl-C.",
    )
    parser.add_argument("--bench", required=True, help="bench file (YAML)")
    parser.add_argument("--data-dir", required=True, help="run stores (written and served)")
    parser.add_argument("--workdir", required=True, help="configs, keys and logs")
    parser.add_argument(
        "--consumer-data-dir", help="also start a 0MQ proxy and a consumer writing here"
    )
    parser.add_argument("--serializer", choices=("msgpack", "json"), default="msgpack")
    args = parser.parse_args(argv)
    stack = Stack(
        args.workdir,
        bench=args.bench,
        data_dir=args.data_dir,
        consumer_data_dir=args.consumer_data_dir,
        serializer=args.serializer,
    )
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background job ignores it
        signal.signal(sig, lambda *a: stopping.set())
    with stack:
        info = stack.describe()
        print(json.dumps({k: v for k, v in info.items() if k != "tiled_api_key"}, indent=2))
        print(f"keys (including the Tiled API key): {stack.workdir / 'keys.json'}", flush=True)
        while not stopping.wait(0.5):
            pass
        print("stopping: RE Manager (environment closed), Tiled, Redis", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
