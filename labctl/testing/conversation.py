"""Conversation tables for driver tests: the exact bytes sent, the exact bytes replied.

A ``ConversationTransport`` is a :class:`labctl.core.transport.Transport` that plays
the instrument from a script::

    with expect_conversation([
        (b"t1\\r", b"+24.3\\r*"),          # host sends t1<CR>, instrument answers
        (None, b"C:1;T: +24.4\\r"),        # instrument sends unsolicited bytes
    ]) as transport:
        driver = SomeDriver(transport)
        ...

Each entry is ``(sent, reply)``.  ``sent`` must equal what the driver writes (several
``write`` calls may build it up); ``reply`` is then served to the driver's reads.  An
entry whose ``sent`` is ``None`` is output the instrument produces on its own: it becomes
readable once every earlier entry has been played, one such entry per low-level read
(so consecutive entries arrive in separate reads), and all of them before the next
write.  A write that does not match, or a table that is not used up when the ``with``
block ends, fails the test with a message that shows the position in the table, what
was expected and what came.

Nothing more arrives while the wall clock runs (``_can_wait`` is false), so a driver
waiting for a reply that the table does not give fails at once instead of timing out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from labctl.core.transport import Transport

__all__ = ["ConversationError", "ConversationTransport", "expect_conversation", "expected_protocol"]


class ConversationError(AssertionError):
    """The driver did not follow the conversation table."""


class ConversationTransport(Transport):
    """Transport that checks writes against a table and serves the scripted replies.

    Import it as ``from labctl.testing.conversation import ...``.

    ``chunk`` (bytes) limits how much one low-level read returns, to exercise the
    driver's handling of replies that arrive in pieces; ``None`` serves all at once.
    """

    def __init__(
        self,
        table: Sequence[tuple[bytes | None, bytes]],
        *,
        address: str = "conversation://table",
        chunk: int | None = None,
        log: bool = True,
    ) -> None:
        super().__init__(address, timeout=0.1, log=log)
        for i, entry in enumerate(table):
            if (
                len(entry) != 2
                or not isinstance(entry[1], bytes)
                or not (entry[0] is None or isinstance(entry[0], bytes))
            ):
                raise TypeError(f"conversation entry {i} must be (bytes | None, bytes): {entry!r}")
        self.table = list(table)
        self.position = 0  #: index of the next table entry to play
        self.chunk = chunk
        self._pending_write = b""
        self._incoming = bytearray()
        self.failure: ConversationError | None = None

    # -- playing the table ---------------------------------------------------------
    def _release_unsolicited(self) -> None:
        while self.position < len(self.table) and self.table[self.position][0] is None:
            self._incoming.extend(self.table[self.position][1])
            self.position += 1

    def _fail(self, message: str) -> None:
        self.failure = ConversationError(message)
        raise self.failure

    def write(self, data: bytes) -> None:
        with self.lock:
            self._release_unsolicited()
            written = self._pending_write + bytes(data)
            if self.position >= len(self.table):
                self._fail(
                    f"{self.address}: unexpected write {written!r} after the end "
                    f"of the table ({len(self.table)} entries)"
                )
            expected = self.table[self.position][0]
            if not expected.startswith(written):
                self._fail(
                    f"{self.address}: entry {self.position}: expected the host to "
                    f"send {expected!r}, got {written!r}"
                )
            super().write(data)
            if written == expected:
                self._incoming.extend(self.table[self.position][1])
                self.position += 1
                self._pending_write = b""
            else:
                self._pending_write = written

    def _raw_write(self, data: bytes) -> None:
        """Checked in :meth:`write`; nothing to do at the byte level."""

    def _raw_read(self, timeout_s: float) -> bytes:
        # one unsolicited entry per read: entries model bytes arriving separately
        if (
            not self._incoming
            and not self._pending_write
            and self.position < len(self.table)
            and self.table[self.position][0] is None
        ):
            self._incoming.extend(self.table[self.position][1])
            self.position += 1
        n = len(self._incoming) if self.chunk is None else min(self.chunk, len(self._incoming))
        out = bytes(self._incoming[:n])
        del self._incoming[:n]
        return out

    def _can_wait(self) -> bool:
        return False

    def _raw_close(self) -> None:
        pass

    # -- checks --------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Whether every entry was played and every reply byte was read."""
        return (
            self.position >= len(self.table)
            and not self._incoming
            and not self._pending_write
            and not self._buffer
        )

    def assert_done(self) -> None:
        """Fail unless the whole table was played and all replies were read."""
        if self.failure is not None:
            raise self.failure
        if self._pending_write:
            raise ConversationError(
                f"{self.address}: incomplete write {self._pending_write!r} at entry {self.position}"
            )
        if self.position < len(self.table):
            rest = self.table[self.position :]
            raise ConversationError(
                f"{self.address}: {len(rest)} entries not played, next {rest[0]!r}"
            )
        unread = bytes(self._buffer) + bytes(self._incoming)
        if unread:
            raise ConversationError(f"{self.address}: reply bytes never read: {unread!r}")


@contextmanager
def expect_conversation(
    table: Sequence[tuple[bytes | None, bytes]], **kwargs
) -> Iterator[ConversationTransport]:
    """Yield a :class:`ConversationTransport`; on a clean exit assert it was used up."""
    transport = ConversationTransport(table, **kwargs)
    yield transport
    transport.assert_done()


@contextmanager
def expected_protocol(
    driver_cls: type,
    table: Sequence[tuple[bytes | None, bytes]],
    *,
    chunk: int | None = None,
    **driver_options,
) -> Iterator:
    """A driver of ``driver_cls`` talking to a conversation table (PyMeasure's
    ``expected_protocol``, for labctl drivers)::

        with expected_protocol(MyThermometer, [(b"t1\\r", b"+24.3\\r")]) as thermo:
            assert thermo.read_temperature(1) == 24.3

    The driver is built as ``driver_cls(transport, **driver_options)``; the table must be
    used up when the block ends.
    """
    with expect_conversation(table, chunk=chunk) as transport:
        yield driver_cls(transport, **driver_options)
