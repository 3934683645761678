"""Conversation tables for the Ambrell EASYHEAT driver: exact bytes out, exact bytes in.

Replies are framed ``<CR><LF>payload<CR><LF>`` as the ISIS IOC reads them from real
units; set commands get no reply (model), so the driver reads settings back with RDATA.
"""

from __future__ import annotations

import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import ConfigError, InstrumentError, InterlockError, TransportError
from labctl.devices.drivers.ambrell_easyheat import (
    AmbrellEasyHeat,
    AMFFault,
    AMFStatus,
    EasyHeatStat,
)
from labctl.testing.conversation import expect_conversation

RDATA = b"1,RDATA\r"
FAULTS = b"1,faults\r"


def framed(payload: str) -> bytes:
    return f"\r\n{payload}\r\n".encode()


#: the ISIS protocol file's example reply, at address 1
ISIS_RDATA = framed("1,1,280.0,280.0,1006,286,0,972")


def rdata(setpoint="0.0", amps="0.0", heat="0", khz="230") -> tuple[bytes, bytes]:
    return (RDATA, framed(f"1,{heat},{setpoint},{amps},0,{khz},0,0"))


# (driver call, conversation, expected return value)
TABLE = [
    ("system_id", (), [(b"1,SYSID\r", framed("12345"))], 12345),
    (
        "unit_status",
        (),
        [(b"1,STAT\r", framed("220.0,53.6,421.2,87.9,62.8"))],
        EasyHeatStat(220.0, 53.6, 421.2, 87.9, 62.8),
    ),
    (
        "read_status_line",
        (),
        [(RDATA, ISIS_RDATA)],
        AMFStatus(True, 280.0, 280.0, 1006.0, 286e3, 0.972, 0.0),
    ),
    ("take_control", (), [], None),
    ("set_current", (100,), [(b"1,amps,100\r", b""), rdata("100.0")], None),
    ("set_current", (12.5,), [(b"1,amps,12.5\r", b""), rdata("12.5")], None),
    ("set_current", (0.004,), [(b"1,amps,0\r", b""), rdata("0.0")], None),
    (
        "set_current_percent",
        (45,),
        [(b"1,maxamps\r", framed("600")), (b"1,%amps,45\r", b""), rdata("270.0")],
        None,
    ),
    ("max_current", (), [(b"1,maxamps\r", framed("600"))], 600.0),
    ("temperature", (), [(b"1,temp\r", framed("31.5"))], 31.5),
    ("set_frequency", (230e3,), [rdata()], None),
    ("set_frequency", (354e3,), [rdata(), (b"1,tank,354\r", b""), rdata(khz="354")], None),
    ("heat_on", (), [(FAULTS, framed("0")), (b"1,hon\r", b""), rdata(heat="1")], None),
    ("heat_off", (), [(b"1,hoff\r", b""), rdata()], None),
    ("heat_off", (True,), [(b"0,hoff\r", b"")], None),
    ("set_timer", (30,), [(b"1,timer,30\r", b"")], None),
    ("set_alarm_min", (800,), [(b"1,almin,800\r", b"")], None),
    ("set_alarm_max", (1200,), [(b"1,almax,1200\r", b"")], None),
    ("set_alarm_delay", (10.21,), [(b"1,aldelay,10.21\r", b"")], None),
    ("set_alarm_enabled", (True,), [(b"1,alon\r", b"")], None),
    ("set_alarm_enabled", (False,), [(b"1,aloff\r", b"")], None),
    (
        "set_power_window",
        (500, 2000, 1.5),
        [
            (b"1,almin,500\r", b""),
            (b"1,almax,2000\r", b""),
            (b"1,aldelay,1.5\r", b""),
            (b"1,alon\r", b""),
        ],
        None,
    ),
    ("faults", (), [(FAULTS, framed("5"))], AMFFault.COOLANT_FLOW | AMFFault.CAPACITOR_OVERTEMP),
    ("clear_faults", (), [(b"1,reset\r", b""), (FAULTS, framed("0"))], AMFFault.NONE),
    (
        "status",
        (),
        [(RDATA, framed("1,1,200.0,198.0,812,230,12000,3000")), (FAULTS, framed("0"))],
        AMFStatus(True, 200.0, 198.0, 812.0, 230e3, 3.0, 12.0, AMFFault.NONE),
    ),
    (
        "help",
        (),
        [(b"1,?\r", b"\r\namps,#.## - amps setpoint\r\nhoff - heat off\r\n")],
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


def test_no_spaces_in_any_frame():
    table = [(b"7,amps,12.34\r", b""), (b"7,RDATA\r", framed("7,0,12.3,0.0,0,230,0,0"))]
    with expect_conversation(table) as t:
        AmbrellEasyHeat(t, unit_address=7).set_current(12.34)
    assert all(b" " not in frame for frame in t.log.sent())


def test_unit_address_is_in_every_frame_and_checked_in_replies():
    table = [(b"7,RDATA\r", framed("1,0,0.0,0.0,0,230,0,0"))]
    with expect_conversation(table) as t:
        driver = AmbrellEasyHeat(t, unit_address=7, retries=0)
        with pytest.raises(InstrumentError, match=r"unit 7 .*'7,RDATA\\r'.*address '1'"):
            driver.read_status_line()


@pytest.mark.parametrize("address", [0, 33, -1, "1"])
def test_invalid_unit_address(address):
    with expect_conversation([]) as t, pytest.raises(ConfigError):
        AmbrellEasyHeat(t, unit_address=address)


def test_status_faults_and_interlock_flag():
    table = [rdata("100.0"), (FAULTS, framed("3"))]
    with expect_conversation(table) as t:
        st = AmbrellEasyHeat(t).status()
    assert st.faults == AMFFault.COOLANT_FLOW | AMFFault.COIL_OVERTEMP
    assert st.faults.names == ("COOLANT_FLOW", "COIL_OVERTEMP")
    assert st.interlock_tripped
    assert not AMFStatus(False, 0, 0, 0, 230e3, 0, 0, AMFFault.POWER_ALARM).interlock_tripped


def test_a_setpoint_the_unit_ignores_names_the_control_location():
    """Front-panel control: ``amps`` is ignored (manual), RDATA shows the old setpoint."""
    table = [(b"1,amps,100\r", b""), rdata("20.0")]
    with (
        expect_conversation(table) as t,
        pytest.raises(InstrumentError, match="ignored the setpoint.*RS-485"),
    ):
        AmbrellEasyHeat(t).set_current(100)
    assert t.log.sent().count(b"1,amps,100\r") == 1  # a setpoint is never repeated


def test_heat_on_refused_with_latched_fault_sends_no_hon():
    with (
        expect_conversation([(FAULTS, framed("1"))]) as t,
        pytest.raises(InterlockError, match="COOLANT_FLOW"),
    ):
        AmbrellEasyHeat(t).heat_on()
    assert t.log.sent() == [FAULTS]


def test_heat_that_does_not_come_on_says_why():
    table = [(FAULTS, framed("0")), (b"1,hon\r", b""), rdata(), (FAULTS, framed("1"))]
    with expect_conversation(table) as t, pytest.raises(InterlockError, match="COOLANT_FLOW"):
        AmbrellEasyHeat(t).heat_on()
    table = [(FAULTS, framed("0")), (b"1,hon\r", b""), rdata(), (FAULTS, framed("0"))]
    with expect_conversation(table) as t, pytest.raises(InstrumentError, match="RS-485"):
        AmbrellEasyHeat(t).heat_on()
    assert t.log.sent().count(b"1,hon\r") == 1


def test_a_single_tank_unit_says_which_frequency_it_has():
    table = [rdata(), (b"1,tank,354\r", b""), rdata()]
    with expect_conversation(table) as t, pytest.raises(InstrumentError, match="230 kHz, not 354"):
        AmbrellEasyHeat(t).set_frequency(354e3)


@pytest.mark.parametrize(
    ("method", "reply"),
    [
        ("read_status_line", framed("1,0,1200.0,10,3,140,1826")),  # a field missing
        ("read_status_line", framed("1,2,1200.0,10,3,140,1826,214")),  # heating not 0/1
        ("read_status_line", framed("1,0,12x0,10,3,140,1826,214")),  # not a number
        ("read_status_line", framed("1,0,nan,10,3,140,1826,214")),
        ("read_status_line", framed("garbage")),
        ("max_current", framed("600,700")),
        ("max_current", framed("OK")),
        ("faults", framed("x")),
        ("faults", framed("1.5")),
        ("system_id", framed("inf")),
        ("unit_status", framed("220.0,53.6")),
    ],
)
def test_malformed_replies_raise_instrument_error(method, reply):
    sent = {
        "read_status_line": RDATA,
        "max_current": b"1,maxamps\r",
        "faults": FAULTS,
        "system_id": b"1,SYSID\r",
        "unit_status": b"1,STAT\r",
    }
    with (
        expect_conversation([(sent[method], reply)]) as t,
        pytest.raises(InstrumentError, match="unit 1"),
    ):
        getattr(AmbrellEasyHeat(t, retries=0), method)()


def test_no_reply_is_transport_error():
    with (
        expect_conversation([(RDATA, b"")]) as t,
        pytest.raises(TransportError, match="RDATA"),
    ):
        AmbrellEasyHeat(t, retries=0).read_status_line()


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("set_current", -1),
        ("set_current", float("nan")),
        ("set_current_percent", 101),
        ("set_alarm_min", -5),
        ("set_alarm_delay", -0.1),
        ("set_frequency", 0),
        ("set_timer", float("inf")),
    ],
)
def test_driver_refuses_bad_arguments_before_sending(method, value):
    with expect_conversation([]) as t, pytest.raises(InstrumentError):
        getattr(AmbrellEasyHeat(t), method)(value)
    assert t.log.sent() == []


def test_power_window_refuses_inverted_window():
    with expect_conversation([]) as t, pytest.raises(InstrumentError, match="exceeds"):
        AmbrellEasyHeat(t).set_power_window(2000, 500, 1.0)


def test_stale_input_is_discarded_before_a_query():
    table = [(None, framed("1,1,9.0,9.0,0,230,0,0")), rdata()]
    with expect_conversation(table) as t:
        assert not AmbrellEasyHeat(t).read_status_line().heating


def _ramp(*currents, heating="1"):
    """Settle polls: RDATA alone (faults are read only after a trip)."""
    return [rdata("200.0", f"{amps:.1f}", heat=heating) for amps in currents]


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
    table = _ramp(50) + _ramp(0, heating="0") + [(FAULTS, framed("1"))]
    with expect_conversation(table) as t, pytest.raises(InterlockError, match="COOLANT_FLOW"):
        AmbrellEasyHeat(t, clock=clock).wait_for_current(poll_s=0.1)


# -- resilience: retries, resynchronisation, never repeating an energizing command ----------
@pytest.mark.parametrize(
    "bad",
    [framed("1,1,2#0.0,198,812,230,12,3"), b"\x91\x02,x\r\n", b"", framed("1,1")],
)
def test_a_query_is_retried_after_garbage_or_no_reply(bad):
    with expect_conversation([(RDATA, bad), (RDATA, ISIS_RDATA)]) as t:
        driver = AmbrellEasyHeat(t)
        assert driver.read_status_line().current_A == 280.0
    assert driver.retried == 1


def test_retries_are_bounded_and_the_error_says_how_many_attempts():
    table = [(FAULTS, framed("x"))] * 3
    with expect_conversation(table) as t, pytest.raises(InstrumentError, match="3 attempts"):
        AmbrellEasyHeat(t, retries=2).faults()


def test_heat_on_is_never_repeated():
    table = [(FAULTS, framed("0")), (b"1,hon\r", b""), (RDATA, b""), (RDATA, b""), (RDATA, b"")]
    with expect_conversation(table) as t, pytest.raises(TransportError):
        AmbrellEasyHeat(t).heat_on()
    assert t.log.sent().count(b"1,hon\r") == 1


def test_heat_off_is_repeated_until_confirmed():
    table = [(b"1,hoff\r", b""), rdata(heat="1"), (b"1,hoff\r", b""), rdata()]
    with expect_conversation(table) as t:
        AmbrellEasyHeat(t).heat_off()


def test_emergency_off_falls_back_to_broadcast_and_confirms():
    table = [
        (b"1,hoff\r", b""),
        (RDATA, b""),
        (b"1,hoff\r", b""),
        (RDATA, framed("garbage")),
        (b"0,hoff\r", b""),
        rdata(),
    ]
    with expect_conversation(table) as t:
        AmbrellEasyHeat(t, retries=1).emergency_off()


def test_emergency_off_raises_when_heat_is_not_confirmed_off():
    table = [(b"1,hoff\r", b""), rdata(heat="1"), (b"0,hoff\r", b""), rdata(heat="1")]
    with expect_conversation(table) as t, pytest.raises(InstrumentError, match="still reads"):
        AmbrellEasyHeat(t, retries=0).emergency_off()


def test_a_reopenable_transport_is_reopened_after_a_transport_error():
    with expect_conversation([(RDATA, b""), (RDATA, ISIS_RDATA)]) as t:
        reopened = []
        t.reopen = lambda: reopened.append(True)
        AmbrellEasyHeat(t).read_status_line()
    assert reopened == [True]


def test_send_and_query_frame_one_command_each():
    """``send``: a frame that gets no reply; ``query``: the payload after <CR><LF>."""
    with expect_conversation([(b"1,alon\r", b""), (b"1,maxamps\r", framed("400"))]) as t:
        driver = AmbrellEasyHeat(t)
        driver.send("alon")
        assert driver.query("maxamps") == "400"
