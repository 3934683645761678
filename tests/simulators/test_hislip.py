"""HiSLIP server side: handshake, framing, async transactions (IVI-6.1)."""

from __future__ import annotations

import struct

from labctl.simulators.hislip import (
    HEADER,
    MESSAGE_TYPES,
    HislipConnection,
    HislipSessions,
    message,
)

NAMES = {value: key for key, value in MESSAGE_TYPES.items()}


def parse(data: bytes) -> list[tuple[str, int, int, bytes]]:
    """Messages in ``data``: (type, control code, parameter, payload)."""
    out = []
    while data:
        prologue, kind, control, parameter, length = HEADER.unpack_from(data)
        assert prologue == b"HS"
        out.append((NAMES[kind], control, parameter, data[HEADER.size : HEADER.size + length]))
        data = data[HEADER.size + length :]
    return out


class Echo:
    """An instrument that answers ``X?\\n`` with ``X\\n`` and records what it got."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.cleared = 0

    def deliver(self, data: bytes) -> bytes:
        self.got.append(data)
        return data.replace(b"?", b"") if b"?" in data else b""

    def clear(self) -> None:
        self.cleared += 1


def open_session(echo: Echo | None = None):
    echo = echo or Echo()
    sessions = HislipSessions()
    sync = HislipConnection(sessions, echo.deliver, status=lambda: 0x10, clear=echo.clear)
    init = struct.pack("!2sBBBB2sQ", b"HS", 0, 0, 1, 0, b"xx", 7) + b"hislip0"
    [(kind, control, parameter, _)] = parse(sync.feed(init))
    assert (kind, control) == ("InitializeResponse", 0)  # synchronous mode
    version, session = parameter >> 16, parameter & 0xFFFF
    assert version == 0x0100 and session >= 1
    asyn = HislipConnection(sessions, echo.deliver)
    [(kind, _, vendor, _)] = parse(asyn.feed(message("AsyncInitialize", 0, session)))
    assert kind == "AsyncInitializeResponse" and vendor.to_bytes(4, "big")[-2:] == b"LC"
    return sync, asyn, echo


def test_query_is_answered_with_dataend_carrying_the_message_id():
    sync, _, echo = open_session()
    out = parse(sync.feed(message("DataEnd", 0, 0xFFFFFF00, b"*IDN?\n")))
    assert out == [("DataEnd", 0, 0xFFFFFF00, b"*IDN\n")]
    assert parse(sync.feed(message("DataEnd", 0, 0xFFFFFF02, b"SOUR:CURR 1\n"))) == []
    assert echo.got == [b"*IDN?\n", b"SOUR:CURR 1\n"]


def test_data_then_dataend_make_one_message_and_end_terminates_it():
    sync, _, echo = open_session()
    sync.feed(message("Data", 0, 1, b"MEAS:"))
    whole = message("DataEnd", 0, 3, b"VOLT?")
    assert sync.feed(whole[:5]) == b""  # a header split across TCP reads
    assert parse(sync.feed(whole[5:])) == [("DataEnd", 0, 3, b"MEAS:VOLT\n")]
    assert echo.got == [b"MEAS:VOLT?\n"]  # END stands for the missing newline


def test_async_channel_transactions():
    _, asyn, _ = open_session()
    [(kind, _, _, payload)] = parse(
        asyn.feed(message("AsyncMaxMsgSize", 0, 0, (1 << 30).to_bytes(8, "big")))
    )
    assert kind == "AsyncMaxMsgSizeResponse" and int.from_bytes(payload, "big") == 1 << 20
    assert parse(asyn.feed(message("AsyncLock", 1, 1000)))[0][:2] == ("AsyncLockResponse", 1)
    assert parse(asyn.feed(message("AsyncLockInfo")))[0][0] == "AsyncLockInfoResponse"
    assert parse(asyn.feed(message("AsyncRemoteLocalControl", 1)))[0][0] == (
        "AsyncRemoteLocalResponse"
    )
    assert parse(asyn.feed(message("DataEnd", 0, 1, b"X?")))[0][:2] == ("Error", 1)


def test_status_query_and_device_clear():
    sync, asyn, echo = open_session()
    sessions = sync.sessions
    status = HislipConnection(sessions, echo.deliver, status=lambda: 0x10)
    status.role = "async"
    assert parse(status.feed(message("AsyncStatusQuery")))[0][:2] == ("AsyncStatusResponse", 0x10)
    assert parse(asyn.feed(message("AsyncDeviceClear")))[0][0] == "AsyncDeviceClearAcknowledge"
    sync.feed(message("Data", 0, 1, b"half"))
    assert parse(sync.feed(message("DeviceClearComplete")))[0][0] == "DeviceClearAcknowledge"
    assert echo.cleared == 1
    sync.feed(message("DataEnd", 0, 5, b"Q?\n"))
    assert echo.got[-1] == b"Q?\n"  # the half message was dropped by the clear


def test_bad_prologue_and_bad_initialization_are_fatal():
    sync = HislipConnection(HislipSessions(), Echo().deliver)
    [(kind, control, _, _)] = parse(sync.feed(b"XX" + bytes(14)))
    assert (kind, control) == ("FatalError", 1) and sync.closed
    stray = HislipConnection(HislipSessions(), Echo().deliver)
    [(kind, control, _, _)] = parse(stray.feed(message("AsyncInitialize", 0, 77)))
    assert (kind, control) == ("FatalError", 3) and stray.closed
