"""Send a RunEngine's documents to a 0MQ proxy (bluesky's ``Publisher``), as JSON or msgpack.

>>> publisher = make_publisher("127.0.0.1:5577", serializer="msgpack")  # doctest: +SKIP
>>> bench.RE.subscribe(publisher)                                     # doctest: +SKIP

The proxy is bluesky's own (``bluesky-0MQ-proxy --in-address ... --out-address ...``);
consumers (:mod:`labctl.remote.consumer`) subscribe to its output.  With CURVE
(``curve=(client_secret_file, server_public_file)``, certificate files made by
``zmq.auth.create_certificates``) the link to the proxy is encrypted and only holders
of an authorized client key can publish.

0MQ PUB/SUB delivers to subscribers connected at the time and drops messages when a
subscriber falls too far behind: start consumers before runs begin, and use Kafka
(``bluesky-kafka``) where a writer must never miss a document (docs/scale-out.md).
"""

from __future__ import annotations

from pathlib import Path

from labctl.remote.serialization import serializer as _serializer

__all__ = ["make_publisher", "client_curve"]


def client_curve(curve: tuple[str | Path, str | Path] | None):
    """``(client secret certificate, server public certificate)`` -> bluesky ``ClientCurve``."""
    if curve is None:
        return None
    from bluesky.callbacks.zmq import ClientCurve

    secret, server_public = (Path(p) for p in curve)
    for path in (secret, server_public):
        if not path.is_file():
            from labctl.core.errors import ConfigError

            raise ConfigError(f"CURVE certificate {path} does not exist")
    return ClientCurve(secret_path=secret, server_public_key=server_public)


def make_publisher(
    address: str,
    *,
    serializer: str = "msgpack",
    prefix: bytes = b"",
    curve: tuple[str | Path, str | Path] | None = None,
):
    """A bluesky ``Publisher`` to the proxy input at ``address`` (``host:port``) that
    serializes with ``serializer`` ("msgpack" or "json"), never pickle."""
    from bluesky.callbacks.zmq import Publisher

    return Publisher(
        address, prefix=prefix, serializer=_serializer(serializer), curve_config=client_curve(curve)
    )
