"""Start Redis, the RE Manager, Tiled, a 0MQ proxy and a document consumer on loopback.

Each service runs its own registry-installed program (``redis-server``,
``start-re-manager``, ``tiled``, ``bluesky-0MQ-proxy``, ``python -m
labctl.remote.consumer``) as a child process bound to 127.0.0.1, with its secrets in
files of mode 0600 under a work directory, never on a command line:

- Redis: a config file with ``bind 127.0.0.1``, ``requirepass`` and no persistence.
- RE Manager: a config file with the CurveZMQ private key of its control socket and the
  Redis address with password; clients need the public key.
- Tiled: the API key in ``TILED_SINGLE_USER_API_KEY``.
- 0MQ proxy: its consumer side a CURVE server accepting authorized client keys.

:class:`labctl.remote.stack.Stack` starts them together;
``python -m labctl.remote.services --bench FILE --data-dir DIR --workdir DIR`` does so
from a shell and prints the addresses.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

from labctl.remote.process import (
    HOST,
    Service,
    free_port,
    port_open,
    program,
    secret_file,
    spawn,
    wait_until,
)

__all__ = [
    "start_redis",
    "start_re_manager",
    "start_tiled",
    "start_proxy",
    "start_consumer",
    "wait_consumer",
    "curve_keypair",
    "curve_certificates",
    "close_api",
    "PERMISSIONS_FILE",
    "main",
]

PERMISSIONS_FILE = Path(__file__).with_name("user_group_permissions.yaml")


def curve_keypair() -> tuple[str, str]:
    """A CurveZMQ key pair (public, private), z85 text, as ``qserver-zmq-keys`` makes."""
    import zmq

    public, private = zmq.curve_keypair()
    return public.decode(), private.decode()


def _redis_ping(port: int, password: str) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as s:
            s.sendall(f"AUTH {password}\r\nPING\r\n".encode())
            return b"+PONG" in s.recv(256)
    except OSError:
        return False


def start_redis(workdir: Path, *, port: int | None = None, timeout: float = 20.0) -> Service:
    """``redis-server`` on 127.0.0.1 with a password and no persistence."""
    workdir = Path(workdir).resolve()
    exe = program(
        "redis-server", "install Debian's redis-server package (apt-get install redis-server)"
    )
    port = port or free_port()
    password = secrets.token_hex(24)
    conf = secret_file(
        workdir / "redis.conf",
        "\n".join(
            [
                f"port {port}",
                f"bind {HOST}",
                "protected-mode yes",
                f"requirepass {password}",
                'save ""',
                "appendonly no",
                f"dir {workdir}",
                "loglevel warning",
                "",
            ]
        ),
    )
    service = spawn("redis", [exe, str(conf)], workdir)
    service.address = f"{HOST}:{port}"
    service.info = {"password": password}
    wait_until(service, lambda: _redis_ping(port, password), timeout, "answering PING")
    return service


def start_re_manager(
    workdir: Path,
    *,
    bench: str | Path,
    redis: Service,
    data_dir: str | Path | None = None,
    private_key: str | None = None,
    env: dict | None = None,
    timeout: float = 60.0,
) -> Service:
    """``start-re-manager`` with labctl's startup module on ``bench``; control and info
    sockets on loopback, CurveZMQ-encrypted when ``private_key`` is given."""
    workdir = Path(workdir).resolve()
    exe = program("start-re-manager", 'install labctl with the "remote" extra')
    control, info = free_port(), free_port()
    network = {
        "zmq_control_addr": f"tcp://{HOST}:{control}",
        "zmq_info_addr": f"tcp://{HOST}:{info}",
        "zmq_publish_console": True,
        "redis_addr": f":{redis.info['password']}@{redis.address}",
        "redis_name_prefix": "labctl",
    }
    if private_key:
        network["zmq_private_key"] = private_key
    config = {
        "network": network,
        "startup": {
            "startup_module": "labctl.remote.qserver_startup",
            "existing_plans_and_devices_path": str(workdir / "existing_plans_and_devices.yaml"),
            "user_group_permissions_path": str(PERMISSIONS_FILE),
        },
        "operation": {
            "update_existing_plans_and_devices": "ENVIRONMENT_OPEN",
            "user_group_permissions_reload": "ON_STARTUP",
        },
    }
    conf = secret_file(workdir / "re-manager.yml", json.dumps(config, indent=2))
    worker_env = {"LABCTL_BENCH": str(Path(bench).resolve()), **(env or {})}
    if data_dir is not None:
        worker_env["LABCTL_DATA_DIR"] = str(Path(data_dir).resolve())
    service = spawn("re-manager", [exe, "--config", str(conf)], workdir, worker_env)
    service.address = network["zmq_control_addr"]
    service.info = {"zmq_info_addr": network["zmq_info_addr"]}
    api = _api(
        service.address, _public_of(private_key), timeout=2.0, info_address=network["zmq_info_addr"]
    )
    try:
        wait_until(service, lambda: _answers(api), timeout, "answering status")
    finally:
        close_api(api)
    return service


def _public_of(private_key: str | None) -> str | None:
    if not private_key:
        return None
    import zmq

    return zmq.curve_public(private_key.encode()).decode()


def _api(
    address: str, public_key: str | None, timeout: float = 10.0, info_address: str | None = None
):
    from bluesky_queueserver_api.zmq import REManagerAPI

    return REManagerAPI(
        zmq_control_addr=address,
        zmq_info_addr=info_address,
        zmq_public_key=public_key,
        timeout_recv=timeout,
        timeout_send=timeout,
    )


def close_api(api) -> None:
    """Close a ``REManagerAPI`` and its 0MQ contexts.

    bluesky-queueserver-api's ``close()`` closes sockets but leaves the contexts of the
    control client and of the console and system-info monitors open, which pyzmq then
    reports as unclosed when they are collected: destroy them here.
    """
    api.close()
    contexts = [getattr(getattr(api, "_client", None), "_ctx", None)]
    for monitor in ("_console_monitor", "_system_info_monitor"):
        rco = getattr(getattr(api, monitor, None), "_rco", None)
        sock = getattr(rco, "_socket", None)
        contexts.append(getattr(sock, "context", None))
    for ctx in contexts:
        if ctx is not None and not ctx.closed:
            ctx.destroy(linger=0)


def _answers(api) -> bool:
    from bluesky_queueserver_api.comm_base import RequestFailedError, RequestTimeoutError

    try:
        api.status()
        return True
    except (RequestTimeoutError, RequestFailedError, OSError):
        return False


def start_tiled(
    workdir: Path,
    *,
    data_dir: str | Path,
    api_key: str | None = None,
    port: int | None = None,
    timeout: float = 60.0,
) -> Service:
    """``tiled serve pyobject labctl.remote.tiled_serve:tree`` on 127.0.0.1 with an API key."""
    workdir = Path(workdir).resolve()
    exe = program("tiled", 'install labctl with the "remote" extra (tiled[server])')
    port = port or free_port()
    api_key = api_key or secrets.token_hex(32)
    env = {"LABCTL_DATA_DIR": str(Path(data_dir).resolve()), "TILED_SINGLE_USER_API_KEY": api_key}
    service = spawn(
        "tiled",
        [
            exe,
            "serve",
            "pyobject",
            "--host",
            HOST,
            "--port",
            str(port),
            "labctl.remote.tiled_serve:tree",
        ],
        workdir,
        env,
    )
    service.address = f"http://{HOST}:{port}"
    service.info = {"api_key": api_key}

    def ready() -> bool:
        import httpx

        try:
            return httpx.get(f"{service.address}/api/v1/", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(service, ready, timeout, "serving")
    return service


def curve_certificates(directory: str | Path) -> dict[str, Path]:
    """CURVE certificates for the document bus (``zmq.auth.create_certificates``):
    ``server_public``, ``server_secret`` (the proxy), ``client_public``,
    ``client_secret`` (publishers and consumers) and ``clients`` (the directory of
    authorized client public keys the proxy accepts)."""
    import zmq.auth

    root = Path(directory)
    clients = root / "clients"
    clients.mkdir(parents=True, exist_ok=True)
    server_public, server_secret = zmq.auth.create_certificates(root, "proxy")
    client_public, client_secret = zmq.auth.create_certificates(root, "client")
    shutil.copy(client_public, clients / Path(client_public).name)
    for secret in (server_secret, client_secret):
        os.chmod(secret, 0o600)
    return {
        "server_public": Path(server_public),
        "server_secret": Path(server_secret),
        "client_public": Path(client_public),
        "client_secret": Path(client_secret),
        "clients": clients,
    }


def start_proxy(
    workdir: Path, *, curve: dict[str, Path] | None = None, timeout: float = 20.0
) -> Service:
    """bluesky's 0MQ proxy; ``info``: ``in`` (publishers) and ``out`` (consumers).

    The input listens on loopback for the bench's own RunEngine.  With ``curve`` (from
    :func:`curve_certificates`) the output, the side facing other hosts, is a CURVE
    server that encrypts and accepts only the authorized consumer keys.  (bluesky's
    proxy cannot make both sides CURVE servers: each starts a ZAP authenticator in the
    same 0MQ context and the second fails to bind.)"""
    workdir = Path(workdir).resolve()
    exe = program("bluesky-0MQ-proxy", "install bluesky")
    pin, pout = free_port(), free_port()
    argv = [exe, "--in-address", f"tcp://{HOST}:{pin}", "--out-address", f"tcp://{HOST}:{pout}"]
    if curve is not None:
        argv += [
            "--out-curve-secret",
            str(curve["server_secret"]),
            "--out-curve-client-keys",
            str(curve["clients"]),
        ]
    service = spawn("zmq-proxy", argv, workdir)
    service.address = f"{HOST}:{pin}"
    service.info = {"in": f"{HOST}:{pin}", "out": f"{HOST}:{pout}"}
    wait_until(service, lambda: port_open(pin) and port_open(pout), timeout, "listening")
    return service


def start_consumer(
    workdir: Path,
    *,
    address: str,
    data_dir: str | Path,
    serializer: str = "msgpack",
    prefix: str = "",
    curve: dict[str, Path] | None = None,
    name: str = "consumer",
    env: dict | None = None,
    timeout: float = 30.0,
    wait: bool = True,
) -> Service:
    """``python -m labctl.remote.consumer`` writing ``data_dir`` from the proxy output
    (``wait=False``: return at once; :func:`wait_consumer` waits until it subscribed)."""
    workdir = Path(workdir).resolve()
    argv = [
        sys.executable,
        "-m",
        "labctl.remote.consumer",
        "--address",
        address,
        "--data-dir",
        str(Path(data_dir).resolve()),
        "--serializer",
        serializer,
        "--prefix",
        prefix,
    ]
    if curve is not None:
        argv += [
            "--client-secret",
            str(curve["client_secret"]),
            "--server-public",
            str(curve["server_public"]),
        ]
    service = spawn(name, argv, workdir, env)
    service.address = address
    service.info = {"data_dir": Path(data_dir)}
    if wait:
        wait_consumer(service, timeout)
    return service


def wait_consumer(service: Service, timeout: float = 30.0) -> None:
    """Wait until a consumer printed that it subscribed."""
    wait_until(
        service, lambda: "labctl consumer ready" in service.log_tail(), timeout, "subscribed"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m labctl.remote.services``: the :class:`~labctl.remote.stack.Stack` CLI."""
    from labctl.remote.stack import main as stack_main

    return stack_main(argv)


if __name__ == "__main__":
    sys.exit(main())
