"""Write run stores from documents received over 0MQ, in a process of its own.

    python -m labctl.remote.consumer --address 127.0.0.1:5578 --data-dir /data/labctl \\
        [--serializer msgpack|json] [--client-secret FILE --server-public FILE]

bluesky's ``RemoteDispatcher`` subscribes to a 0MQ proxy's output and feeds every
document to labctl's :class:`~labctl.data.RunWriter`, so the stores it writes are the
ones the RunEngine's own process would write.  Documents are decoded as JSON or
msgpack (never pickle).  Prints ``labctl consumer ready <address>`` once subscribed and
``run <path>`` for each run; SIGINT/SIGTERM flush what is buffered and exit (a run
left open is completed later by ``labctl recover``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from labctl.remote.publisher import client_curve
from labctl.remote.serialization import deserializer as _deserializer

__all__ = ["make_dispatcher", "DocumentConsumer", "main", "MAX_MESSAGE_BYTES"]

log = logging.getLogger("labctl.remote.consumer")


#: the largest document message accepted, bytes (image data travels by reference)
MAX_MESSAGE_BYTES = 16 << 20


def _parse(message: bytes, prefix: bytes, deserialize) -> tuple[str, dict] | None:
    """``(name, document)`` of one 0MQ message, None if it is for another prefix;
    ``ValueError`` saying why a message is refused."""
    if len(message) > MAX_MESSAGE_BYTES:
        raise ValueError(f"{len(message)} bytes, over the {MAX_MESSAGE_BYTES} allowed")
    parts = message.split(b" ", 2)
    if len(parts) != 3:
        raise ValueError("not '<prefix> <name> <document>'")
    their_prefix, raw_name, payload = parts
    if prefix and their_prefix != prefix:
        return None
    name = raw_name.decode("utf-8", "replace")
    if name not in _DOCUMENT_NAMES:
        raise ValueError(f"unknown document name {name[:40]!r}")
    try:
        doc = deserialize(payload)
    except Exception as exc:  # whatever the decoder raises on hostile bytes
        raise ValueError(f"{name} document cannot be decoded: {type(exc).__name__}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{name} document is a {type(doc).__name__}, not a mapping")
    from event_model import DocumentNames, schema_validators

    try:
        schema_validators[DocumentNames[name]].validate(doc)
    except Exception as exc:  # the schema's ValidationError (or a hostile value's error)
        why = getattr(exc, "message", None) or str(exc)
        raise ValueError(f"not a valid {name} document: {why[:200]}") from None
    return name, doc


_DOCUMENT_NAMES = (
    "start",
    "descriptor",
    "event",
    "event_page",
    "stop",
    "resource",
    "datum",
    "datum_page",
    "stream_resource",
    "stream_datum",
)


def make_dispatcher(
    address: str,
    *,
    serializer: str = "msgpack",
    prefix: bytes = b"",
    curve: tuple[str | Path, str | Path] | None = None,
):
    """A bluesky ``RemoteDispatcher`` on a proxy output (``host:port``) decoding with
    ``serializer`` ("msgpack" or "json"), never pickle.  A message with an unknown
    document name, a payload that does not decode to a valid document (event-model's
    schema), or more than :data:`MAX_MESSAGE_BYTES` is logged and dropped; later
    messages are handled."""
    from bluesky.callbacks.zmq import RemoteDispatcher
    from event_model import DocumentNames

    class _GuardedDispatcher(RemoteDispatcher):
        async def _poll(self):  # bluesky's loop, refusing hostile messages one by one
            while True:
                message = await self._socket.recv()
                try:
                    parsed = _parse(message, self._prefix, self._deserializer)
                except ValueError as exc:
                    log.warning("0MQ message dropped: %s", exc)
                    continue
                if parsed is not None:
                    self.loop.call_soon(self.process, DocumentNames[parsed[0]], parsed[1])

    return _GuardedDispatcher(
        address,
        prefix=prefix,
        deserializer=_deserializer(serializer),
        strict=False,
        curve_config=client_curve(curve),
    )


class DocumentConsumer:
    """A ``RemoteDispatcher`` feeding a ``RunWriter``; :meth:`run` blocks until stopped."""

    def __init__(
        self,
        address: str,
        data_dir: str | Path,
        *,
        serializer: str = "msgpack",
        prefix: bytes = b"",
        curve: tuple[str | Path, str | Path] | None = None,
        announce=print,
    ) -> None:
        from labctl.data import RunWriter

        self.address = address
        self.announce = announce
        self.writer = RunWriter(data_dir, on_run_start=lambda p: announce(f"run {p}"))
        self.dispatcher = make_dispatcher(
            address, serializer=serializer, prefix=prefix, curve=curve
        )
        self.dispatcher.subscribe(self.writer)
        self.dispatcher.loop.set_exception_handler(self._on_error)

    def _on_error(self, loop, context) -> None:
        exc = context.get("exception")
        log.error("document handling failed: %s", context.get("message"), exc_info=exc)

    def stop(self) -> None:
        """Ask the running loop to finish (thread-safe)."""
        loop = self.dispatcher.loop
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        for task in asyncio.all_tasks(self.dispatcher.loop):
            task.cancel()

    def run(self) -> None:
        """Receive and write documents until :meth:`stop` (or a signal in ``main``)."""
        loop = self.dispatcher.loop
        loop.call_soon(self.announce, f"labctl consumer ready {self.address}")
        try:
            self.dispatcher.start()
        except asyncio.CancelledError:
            pass
        finally:
            self.writer.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labctl.remote.consumer",
        description="Write labctl run stores from bluesky documents received over 0MQ.",
    )
    parser.add_argument(
        "--address",
        required=True,
        help="host:port of the 0MQ proxy output (bluesky-0MQ-proxy --out-address)",
    )
    parser.add_argument("--data-dir", required=True, help="where run stores are written")
    parser.add_argument("--serializer", choices=("msgpack", "json"), default="msgpack")
    parser.add_argument("--prefix", default="", help="only documents with this prefix")
    parser.add_argument("--client-secret", help="CURVE client secret certificate file")
    parser.add_argument("--server-public", help="CURVE server public certificate file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if bool(args.client_secret) != bool(args.server_public):
        parser.error("--client-secret and --server-public go together")
    curve = (args.client_secret, args.server_public) if args.client_secret else None

    def say(text: str) -> None:
        print(text, flush=True)

    consumer = DocumentConsumer(
        args.address,
        args.data_dir,
        serializer=args.serializer,
        prefix=args.prefix.encode(),
        curve=curve,
        announce=say,
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        consumer.dispatcher.loop.add_signal_handler(sig, consumer._cancel)
    consumer.run()
    say("labctl consumer stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
