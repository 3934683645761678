"""Conversation tables for the Ambrell EASYHEAT driver: exact bytes out, exact bytes in."""

from __future__ import annotations

import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import ConfigError, InstrumentError, InterlockError, TransportError
from labctl.devices.drivers.ambrell_easyheat import AmbrellEasyHeat, AMFFault, AMFStatus
from labctl.testing.conversation import expect_conversation

OK = b"1,OK\r\n"
STAT = b"1,stat\r"
FAULTS = b"1,faults\r"

# (driver call, conversation, expected return value)
TABLE = [
    ("take_control", (), [(b"1,remote\r", OK)], None),
    ("release_control", (), [(b"1,local\r", OK)], None),
    ("set_current", (100,), [(b"1,amps,100\r", OK)], None),
    ("set_current", (12.5,), [(b"1,amps,12.5\r", OK)], None),
    ("set_current", (0.004,), [(b"1,amps,0\r", OK)], None),
    ("set_current_percent", (45,), [(b"1,%amps,45\r", OK)], None),
    ("max_current", (), [(b"1,maxamps\r", b"1,600\r\n")], 600.0),
    ("set_frequency", (354e3,), [(b"1,tank,354\r", OK)], None),
    ("set_frequency", (112.5e3,), [(b"1,tank,112.5\r", OK)], None),
    ("frequencies", (), [(b"1,tanks\r", b"1,230,354,20\r\n")], (230e3, 354e3, 20e3)),
    ("heat_on", (), [(FAULTS, b"1,0\r\n"), (b"1,hon\r", OK)], None),
    ("heat_off", (), [(b"1,hoff\r", OK)], None),
    ("heat_off", (True,), [(b"0,hoff\r", b"")], None),
    ("set_alarm_min", (800,), [(b"1,almin,800\r", OK)], None),
    ("set_alarm_max", (1200,), [(b"1,almax,1200\r", OK)], None),
    ("set_alarm_delay", (10.21,), [(b"1,aldelay,10.21\r", OK)], None),
    ("set_alarm_enabled", (True,), [(b"1,alon\r", OK)], None),
    ("set_alarm_enabled", (False,), [(b"1,aloff\r", OK)], None),
    (
        "set_power_window",
        (500, 2000, 1.5),
        [
            (b"1,almin,500\r", OK),
            (b"1,almax,2000\r", OK),
            (b"1,aldelay,1.5\r", OK),
            (b"1,alon\r", OK),
        ],
        None,
    ),
    ("faults", (), [(FAULTS, b"1,5\r\n")], AMFFault.COOLANT_FLOW | AMFFault.CAPACITOR_OVERTEMP),
    ("clear_faults", (), [(b"1,reset\r", OK), (FAULTS, b"1,0\r\n")], AMFFault.NONE),
    (
        "read_status_line",
        (),
        [(STAT, b"1,0,1200.0,10,3,140,1826,214\r\n")],
        AMFStatus(False, 1200.0, 10.0, 3.0, 140e3, 1826.0, 214),
    ),
    (
        "status",
        (),
        [(STAT, b"1,1,200.0,198,812,230,12,3\r\n"), (FAULTS, b"1,0\r\n")],
        AMFStatus(True, 200.0, 198.0, 812.0, 230e3, 12.0, 3, AMFFault.NONE),
    ),
    (
        "help",
        (),
        [(b"1,?\r", b"amps,#.## - amps setpoint\r\nhoff - heat off\r\n1,OK\r\n")],
        ["amps,#.## - amps setpoint", "hoff - heat off"],
    ),
]


@pytest.mark.parametrize(
    ("method", "args", "table", "expected"), TABLE, ids=[f"{row[0]}{row[1]}" for row in TABLE]
)
@pytest.mark.parametrize("chunk", [None, 3])
def test_conversation(method, args, table, expected, chunk):
    with expect_conversation(table, chunk=chunk) as transport:
        driver = AmbrellEasyHeat(transport)
        assert getattr(driver, method)(*args) == expected


def test_unit_address_is_in_every_frame_and_checked_in_replies():
    with expect_conversation([(b"7,hoff\r", b"7,OK\r\n"), (b"7,maxamps\r", b"1,600\r\n")]) as t:
        driver = AmbrellEasyHeat(t, unit_address=7, retries=0)
        driver.heat_off()
        with pytest.raises(InstrumentError, match=r"unit 7 .*'7,maxamps\\r'.*'1,600'"):
            driver.max_current()


@pytest.mark.parametrize("address", [0, 33, -1, "1"])
def test_invalid_unit_address(address):
    with expect_conversation([]) as t, pytest.raises(ConfigError):
        AmbrellEasyHeat(t, unit_address=address)


def test_status_faults_and_interlock_flag():
    table = [(STAT, b"1,0,100.0,0,0,230,5,2\r\n"), (FAULTS, b"1,3\r\n")]
    with expect_conversation(table) as t:
        st = AmbrellEasyHeat(t).status()
    assert st.faults == AMFFault.COOLANT_FLOW | AMFFault.COIL_OVERTEMP
    assert st.faults.names == ("COOLANT_FLOW", "COIL_OVERTEMP")
    assert st.interlock_tripped
    assert not AMFStatus(False, 0, 0, 0, 230e3, 0, 0, AMFFault.POWER_ALARM).interlock_tripped


def test_heat_on_refused_with_latched_fault_sends_no_hon():
    with (
        expect_conversation([(FAULTS, b"1,1\r\n")]) as t,
        pytest.raises(InterlockError, match="COOLANT_FLOW"),
    ):
        AmbrellEasyHeat(t).heat_on()
    assert t.log.sent() == [FAULTS]


def test_interlock_error_reply_is_interlock_error():
    table = [(FAULTS, b"1,0\r\n"), (b"1,hon\r", b"1,ERR,6\r\n")]
    with expect_conversation(table) as t, pytest.raises(InterlockError, match="lock") as info:
        AmbrellEasyHeat(t).heat_on()
    assert info.value.code == 6


@pytest.mark.parametrize(
    ("reply", "code", "meaning"),
    [
        (b"1,ERR,4\r\n", 4, "RS-485"),
        (b"1,ERR,3\r\n", 3, "out of range"),
        (b"1,ERR,1\r\n", 1, "unknown command"),
        (b"1,ERR,99\r\n", 99, "unknown error"),
    ],
)
def test_error_replies_name_address_command_and_reply(reply, code, meaning):
    table = [(b"1,amps,100\r", reply)]
    with expect_conversation(table) as t, pytest.raises(InstrumentError, match=meaning) as info:
        AmbrellEasyHeat(t).set_current(100)
    message = str(info.value)
    assert "conversation://table" in message and "amps,100" in message
    assert reply.strip().decode() in message
    assert info.value.code == code
    assert not isinstance(info.value, InterlockError)


@pytest.mark.parametrize(
    ("method", "reply"),
    [
        ("read_status_line", b"1,0,1200.0,10,3,140,1826\r\n"),  # a field missing
        ("read_status_line", b"1,2,1200.0,10,3,140,1826,214\r\n"),  # heating not 0/1
        ("read_status_line", b"1,0,12x0,10,3,140,1826,214\r\n"),  # not a number
        ("read_status_line", b"1,0,nan,10,3,140,1826,214\r\n"),
        ("read_status_line", b"garbage\r\n"),
        ("max_current", b"1,600,700\r\n"),
        ("max_current", b"1,OK\r\n"),
        ("heat_off", b"1,KO\r\n"),
    ],
)
def test_malformed_replies_raise_instrument_error(method, reply):
    sent = {"read_status_line": STAT, "max_current": b"1,maxamps\r", "heat_off": b"1,hoff\r"}
    with (
        expect_conversation([(sent[method], reply)]) as t,
        pytest.raises(InstrumentError, match="unit 1"),
    ):
        getattr(AmbrellEasyHeat(t, retries=0), method)()


def test_malformed_fault_reply():
    with (
        expect_conversation([(FAULTS, b"1,x\r\n")]) as t,
        pytest.raises(InstrumentError, match="malformed fault"),
    ):
        AmbrellEasyHeat(t, retries=0).faults()


def test_no_reply_is_transport_error():
    with (
        expect_conversation([(b"1,hoff\r", b"")]) as t,
        pytest.raises(TransportError, match="hoff"),
    ):
        AmbrellEasyHeat(t, retries=0).heat_off()


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("set_current", -1),
        ("set_current", float("nan")),
        ("set_current_percent", 101),
        ("set_alarm_min", -5),
        ("set_alarm_delay", -0.1),
        ("set_frequency", 0),
    ],
)
def test_driver_refuses_bad_arguments_before_sending(method, value):
    with expect_conversation([]) as t, pytest.raises(InstrumentError):
        getattr(AmbrellEasyHeat(t), method)(value)
    assert t.log.sent() == []


def test_power_window_refuses_inverted_window():
    with expect_conversation([]) as t, pytest.raises(InstrumentError, match="exceeds"):
        AmbrellEasyHeat(t).set_power_window(2000, 500, 1.0)


def test_stale_input_is_discarded_before_a_command():
    table = [(None, b"1,OK\r\n"), (b"1,hoff\r", b"1,OK\r\n")]
    with expect_conversation(table) as t:
        AmbrellEasyHeat(t).heat_off()


def _ramp(*currents, heating="1"):
    """Settle polls: the status line alone (faults are read only after a trip)."""
    return [(STAT, f"1,{heating},200.0,{amps},0,230,1,1\r\n".encode()) for amps in currents]


def test_wait_for_current_polls_on_the_clock():
    clock = SimClock(start=1000.0)
    with expect_conversation(_ramp(0, 100, 198)) as t:
        st = AmbrellEasyHeat(t, clock=clock).wait_for_current(tolerance_A=5, poll_s=0.5)
    assert st.current_A == 198
    assert clock.now() == pytest.approx(1001.0)


def test_wait_for_current_times_out():
    clock = SimClock(start=0.0)
    with (
        expect_conversation(_ramp(0, 10, 20)) as t,
        pytest.raises(InstrumentError, match="did not reach 200 A within 1 s"),
    ):
        AmbrellEasyHeat(t, clock=clock).wait_for_current(timeout_s=1.0, poll_s=0.5)


def test_wait_for_current_reports_a_trip():
    clock = SimClock(start=0.0)
    table = _ramp(50) + [(STAT, b"1,0,200.0,0,0,230,1,1\r\n"), (FAULTS, b"1,1\r\n")]
    with expect_conversation(table) as t, pytest.raises(InterlockError, match="COOLANT_FLOW"):
        AmbrellEasyHeat(t, clock=clock).wait_for_current(poll_s=0.1)


# -- resilience: retries, resynchronisation, never repeating an energizing command ----------
GOOD_STAT = b"1,1,200.0,198,812,230,12,3\r\n"


@pytest.mark.parametrize(
    "bad",
    [b"1,1,2#0.0,198,812,230,12,3\r\n", b"\x91\x02,x\r\n", b"", b"1,ERR,1\r\n", b"1,ERR,2\r\n"],
)
def test_a_query_is_retried_after_garbage_or_no_reply(bad):
    with expect_conversation([(STAT, bad), (STAT, GOOD_STAT)]) as t:
        driver = AmbrellEasyHeat(t)
        assert driver.read_status_line().current_A == 198.0
    assert driver.retried == 1


def test_retries_are_bounded_and_the_error_says_how_many_attempts():
    table = [(FAULTS, b"1,x\r\n")] * 3
    with expect_conversation(table) as t, pytest.raises(InstrumentError, match="3 attempts"):
        AmbrellEasyHeat(t, retries=2).faults()


def test_a_refusal_that_is_not_garbling_is_not_retried():
    with (
        expect_conversation([(b"1,maxamps\r", b"1,ERR,4\r\n")]) as t,
        pytest.raises(InstrumentError, match="RS-485"),
    ):
        AmbrellEasyHeat(t).max_current()


def test_heat_on_and_setpoints_are_never_repeated():
    with (
        expect_conversation([(FAULTS, b"1,0\r\n"), (b"1,hon\r", b"")]) as t,
        pytest.raises(TransportError),
    ):
        AmbrellEasyHeat(t).heat_on()
    with (
        expect_conversation([(b"1,amps,100\r", b"1,O\x0b\r\n")]) as t,
        pytest.raises(InstrumentError),
    ):
        AmbrellEasyHeat(t).set_current(100)
    assert t.log.sent() == [b"1,amps,100\r"]


def test_heat_off_is_repeated_until_acknowledged():
    with expect_conversation([(b"1,hoff\r", b""), (b"1,hoff\r", OK)]) as t:
        AmbrellEasyHeat(t).heat_off()


def test_emergency_off_falls_back_to_broadcast_and_confirms():
    table = [
        (b"1,hoff\r", b""),
        (b"1,hoff\r", b"garbage\r\n"),
        (b"0,hoff\r", b""),
        (STAT, b"1,0,200.0,0,0,230,12,3\r\n"),
    ]
    with expect_conversation(table) as t:
        AmbrellEasyHeat(t, retries=1).emergency_off()


def test_emergency_off_raises_when_heat_is_not_confirmed_off():
    table = [(b"1,hoff\r", OK), (STAT, GOOD_STAT)]
    with expect_conversation(table) as t, pytest.raises(InstrumentError, match="still reads"):
        AmbrellEasyHeat(t, retries=0).emergency_off()


def test_a_reopenable_transport_is_reopened_after_a_transport_error():
    with expect_conversation([(STAT, b""), (STAT, GOOD_STAT)]) as t:
        reopened = []
        t.reopen = lambda: reopened.append(True)
        AmbrellEasyHeat(t).read_status_line()
    assert reopened == [True]
