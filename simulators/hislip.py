"""HiSLIP server side (IVI-6.1): one instrument session over a sync and an async channel.

What a VISA client needs to talk to a SCPI emulator as to a LAN instrument
(``TCPIP0::127.0.0.1::hislip0,<port>::INSTR``): the Initialize / AsyncInitialize
handshake, Data and DataEnd messages on the synchronous channel (a message ends with
DataEnd: that is the END that a raw socket lacks, so clients need no termination
settings), and on the asynchronous channel the maximum message size, status query,
device clear, lock and remote/local transactions.

Framing (IVI-6.1 section 6.1): a 16-byte header, ``"HS"``, message type (1 byte),
control code (1 byte), message parameter (4 bytes), payload length (8 bytes), all
big-endian, then the payload.  Only synchronous mode is offered (overlap 0); locks are
granted at once (one client).  :class:`HislipConnection` consumes the bytes of one TCP
connection and returns the bytes to send back; the caller owns the sockets.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable

__all__ = ["HislipConnection", "HislipSessions", "MESSAGE_TYPES", "HEADER"]

HEADER = struct.Struct("!2sBBIQ")  #: prologue, type, control code, parameter, length
PROTOCOL_VERSION = 0x0100  #: HiSLIP 1.0
VENDOR_ID = b"LC"  #: two ASCII characters (the specification's server vendor id)
MAX_MESSAGE_SIZE = 1 << 20  #: bytes the server accepts in one message
MESSAGE_TYPES = {
    "Initialize": 0,
    "InitializeResponse": 1,
    "FatalError": 2,
    "Error": 3,
    "AsyncLock": 4,
    "AsyncLockResponse": 5,
    "Data": 6,
    "DataEnd": 7,
    "DeviceClearComplete": 8,
    "DeviceClearAcknowledge": 9,
    "AsyncRemoteLocalControl": 10,
    "AsyncRemoteLocalResponse": 11,
    "Trigger": 12,
    "AsyncMaxMsgSize": 15,
    "AsyncMaxMsgSizeResponse": 16,
    "AsyncInitialize": 17,
    "AsyncInitializeResponse": 18,
    "AsyncDeviceClear": 19,
    "AsyncStatusQuery": 21,
    "AsyncStatusResponse": 22,
    "AsyncDeviceClearAcknowledge": 23,
    "AsyncLockInfo": 24,
    "AsyncLockInfoResponse": 25,
}
_NAMES = {value: key for key, value in MESSAGE_TYPES.items()}
#: async requests answered by a bare response: request -> (response, control code)
_SIMPLE_ASYNC = {
    "AsyncLock": ("AsyncLockResponse", 1),  # success
    "AsyncLockInfo": ("AsyncLockInfoResponse", 0),  # no exclusive lock held
    "AsyncRemoteLocalControl": ("AsyncRemoteLocalResponse", 0),
    "AsyncDeviceClear": ("AsyncDeviceClearAcknowledge", 0),  # no overlap feature
}
FATAL_POORLY_FORMED, FATAL_INITIALIZATION = 1, 3
ERROR_UNRECOGNIZED_TYPE = 1


def message(kind: str, control: int = 0, parameter: int = 0, payload: bytes = b"") -> bytes:
    """One HiSLIP message: header and payload."""
    return HEADER.pack(b"HS", MESSAGE_TYPES[kind], control, parameter, len(payload)) + payload


class HislipSessions:
    """Session ids handed out by Initialize, looked up by AsyncInitialize."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.open: set[int] = set()

    def new(self) -> int:
        session = next(self._ids) & 0xFFFF
        self.open.add(session)
        return session


class HislipConnection:
    """One TCP connection of a HiSLIP session (its role is set by the first message).

    ``deliver(data)`` passes a complete client message (bytes) to the instrument and
    returns what the instrument answered at once; ``status()`` is the status byte for
    AsyncStatusQuery; ``clear()`` is called on device clear.
    """

    def __init__(
        self,
        sessions: HislipSessions,
        deliver: Callable[[bytes], bytes],
        status: Callable[[], int] = lambda: 0,
        clear: Callable[[], None] = lambda: None,
    ) -> None:
        self.sessions = sessions
        self.deliver = deliver
        self.status = status
        self.clear = clear
        self.role: str | None = None  #: "sync" or "async" once initialized
        self.closed = False  #: a fatal error was sent: drop the connection
        self._buffer = bytearray()
        self._pending = bytearray()  #: Data payloads waiting for their DataEnd
        self.last_message_id = 0xFFFFFFFF

    def feed(self, data: bytes) -> bytes:
        """Bytes from the client; returns the bytes to send back."""
        self._buffer.extend(data)
        out = bytearray()
        while not self.closed and len(self._buffer) >= HEADER.size:
            prologue, kind, control, parameter, length = HEADER.unpack_from(self._buffer)
            if prologue != b"HS" or length > MAX_MESSAGE_SIZE:
                out += self._fatal(FATAL_POORLY_FORMED, "poorly formed message header")
                break
            if len(self._buffer) < HEADER.size + length:
                break
            payload = bytes(self._buffer[HEADER.size : HEADER.size + length])
            del self._buffer[: HEADER.size + length]
            out += self._handle(_NAMES.get(kind, ""), control, parameter, payload)
        return bytes(out)

    def reply(self, data: bytes) -> bytes:
        """Instrument output that arrived later: one DataEnd answering the last message."""
        return message("DataEnd", 0, self.last_message_id, data) if data else b""

    def _fatal(self, code: int, text: str) -> bytes:
        self.closed = True
        return message("FatalError", code, 0, text.encode("ascii"))

    def _handle(self, kind: str, control: int, parameter: int, payload: bytes) -> bytes:
        if self.role is None:
            return self._initialize(kind, parameter)
        if self.role == "async":
            return self._async(kind, payload)
        return self._sync(kind, parameter, payload)

    def _initialize(self, kind: str, parameter: int) -> bytes:
        if kind == "Initialize":
            self.role = "sync"
            session = self.sessions.new()
            return message("InitializeResponse", 0, (PROTOCOL_VERSION << 16) | session)
        if kind == "AsyncInitialize" and parameter in self.sessions.open:
            self.role = "async"
            vendor = int.from_bytes(VENDOR_ID, "big")
            return message("AsyncInitializeResponse", 0, vendor)
        return self._fatal(FATAL_INITIALIZATION, f"{kind or 'unknown message'} before Initialize")

    def _sync(self, kind: str, parameter: int, payload: bytes) -> bytes:
        if kind == "Data":
            self._pending += payload
            self.last_message_id = parameter
            return b""
        if kind == "DataEnd":
            data = bytes(self._pending) + payload
            self._pending.clear()
            self.last_message_id = parameter
            if not data.endswith(b"\n"):
                data += b"\n"  # END terminates the program message (IEEE 488.2)
            return self.reply(self.deliver(data))
        if kind == "DeviceClearComplete":
            self._pending.clear()
            self.clear()
            return message("DeviceClearAcknowledge", 0)
        if kind == "Trigger":
            self.last_message_id = parameter
            return b""
        return message("Error", ERROR_UNRECOGNIZED_TYPE, 0, f"unexpected {kind}".encode("ascii"))

    def _async(self, kind: str, payload: bytes) -> bytes:
        if kind == "AsyncMaxMsgSize":
            asked = int.from_bytes(payload[:8], "big") if len(payload) >= 8 else MAX_MESSAGE_SIZE
            size = min(asked, MAX_MESSAGE_SIZE)
            return message("AsyncMaxMsgSizeResponse", 0, 0, size.to_bytes(8, "big"))
        if kind == "AsyncStatusQuery":
            return message("AsyncStatusResponse", int(self.status()) & 0xFF)
        if kind in _SIMPLE_ASYNC:
            response, control = _SIMPLE_ASYNC[kind]
            return message(response, control)
        return message("Error", ERROR_UNRECOGNIZED_TYPE, 0, f"unexpected {kind}".encode("ascii"))
