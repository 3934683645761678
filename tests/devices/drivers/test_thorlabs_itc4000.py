"""Conversation tables for the Thorlabs ITC4000 driver: exact bytes out, exact bytes in."""

from __future__ import annotations

import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import InstrumentError, InterlockError, TransportError
from labctl.devices.drivers.thorlabs_itc4000 import TRIP_NAMES, ThorlabsITC4000
from labctl.testing.conversation import expect_conversation

ERR = b"SYST:ERR?\n"
NO_ERROR = (ERR, b'+0,"No error"\n')
TRIPS_CLEAR = [
    (b"OUTP:PROT:INTL:TRIP?\n", b"0\n"),
    (b"OUTP:PROT:KEYL:TRIP?\n", b"0\n"),
    (b"OUTP:PROT:OTEM:TRIP?\n", b"0\n"),
]
STATUS_QUERY = (
    b":MEAS:POW2?;:SOUR:CURR?;:MEAS:CURR?;:MEAS:TEMP?;:OUTP:STAT?;"
    b":OUTP:PROT:INTL:TRIP?;:OUTP:PROT:KEYL:TRIP?;:OUTP:PROT:OTEM:TRIP?\n"
)


def write(command: bytes):
    """A setting: the command (no reply), then the error queue check."""
    return [(command, b""), NO_ERROR]


# (driver method, arguments, conversation, expected return value)
TABLE = [
    ("get_current_A", (), [(b"SOUR:CURR?\n", b"1.500000E+00\n")], 1.5),
    ("set_current_A", (1.5,), write(b"SOUR:CURR 1.5\n"), None),
    ("set_current_A", (0.12345678,), write(b"SOUR:CURR 0.123457\n"), None),
    ("set_current_A", (0,), write(b"SOUR:CURR 0\n"), None),
    ("get_current_limit_A", (), [(b"SOUR:CURR:LIM?\n", b"4.000000E+00\n")], 4.0),
    ("set_current_limit_A", (3.2,), write(b"SOUR:CURR:LIM 3.2\n"), None),
    ("get_mode", (), [(b"SOUR:FUNC:MODE?\n", b"CURR\n")], "CURR"),
    ("get_mode", (), [(b"SOUR:FUNC:MODE?\n", b"POW\n")], "POW"),
    ("set_mode", ("POW",), write(b"SOUR:FUNC:MODE POW\n"), None),
    ("set_mode", ("current",), write(b"SOUR:FUNC:MODE CURR\n"), None),
    ("get_emission", (), [(b"OUTP:STAT?\n", b"1\n")], True),
    ("get_emission", (), [(b"OUTP:STAT?\n", b"0\n")], False),
    ("get_tec_output", (), [(b"OUTP2:STAT?\n", b"1\n")], True),
    ("set_tec_output", (True,), write(b"OUTP2:STAT ON\n"), None),
    ("set_tec_output", (False,), write(b"OUTP2:STAT OFF\n"), None),
    ("get_tec_setpoint_C", (), [(b"SOUR2:TEMP?\n", b"2.500000E+01\n")], 25.0),
    ("set_tec_setpoint_C", (24.5,), write(b"SOUR2:TEMP 24.5\n"), None),
    ("measure_current_A", (), [(b"MEAS:CURR?\n", b"1.499900E+00\n")], 1.4999),
    # nodes used by public client code (Openwater, photonmover, qtlab)
    ("get_tec_mode", (), [(b"SOUR2:FUNC?\n", b"TEMP\n")], "TEMP"),
    ("set_tec_mode", ("temperature",), write(b"SOUR2:FUNC TEMP\n"), None),
    ("get_on_delay_s", (), [(b"OUTP:DEL?\n", b"5.000000E-01\n")], 0.5),
    ("set_on_delay_s", (0.5,), write(b"OUTP:DEL 0.5\n"), None),
    ("save_settings", (3,), write(b"*SAV 3\n"), None),
    ("recall_settings", (3,), write(b"*RCL 3\n"), None),
    ("measure_voltage_V", (), [(b"MEAS:VOLT?\n", b"1.875000E+00\n")], 1.875),
    ("get_shape", (), [(b"SOUR:FUNC:SHAP?\n", b"PULS\n")], "PULS"),
    ("set_shape", ("DC",), write(b"SOUR:FUNC:SHAP DC\n"), None),
    ("get_pulse_period_s", (), [(b"SOUR:PULS:PER?\n", b"3.300000E-02\n")], 0.033),
    ("set_pulse_period_s", (0.033,), write(b"SOUR:PULS:PER 0.033\n"), None),
    ("set_pulse_width_s", (0.0001,), write(b"SOUR:PULS:WIDT 0.0001\n"), None),
    ("get_pulse_hold", (), [(b"SOUR:PULS:HOLD?\n", b"DCYC\n")], "DCYC"),
    ("get_pulse_width_s", (), [(b"SOUR:PULS:WIDT?\n", b"1.000000E-04\n")], 1e-4),
    ("set_pulse_hold", ("width",), write(b"SOUR:PULS:HOLD WIDT\n"), None),
    ("get_trigger_source", (), [(b"TRIG:SOUR?\n", b"EXT\n")], "EXT"),
    ("set_trigger_source", ("INT",), write(b"TRIG:SOUR INT\n"), None),
    (
        "configure_qcw",
        (0.2, 0.05),
        write(b"SOUR:PULS:HOLD WIDT\n")
        + [(b"SOUR:PULS:WIDT?\n", b"5.000000E-04\n")]
        + write(b"SOUR:PULS:PER 0.2\n")
        + write(b"SOUR:PULS:WIDT 0.05\n")
        + write(b"TRIG:SOUR INT\n")
        + write(b"SOUR:FUNC:SHAP PULS\n"),
        None,
    ),
    ("get_tec_temperature_C", (), [(b"MEAS:TEMP?\n", b"2.500100E+01\n")], 25.001),
    ("measure_power_W", (), [(b"MEAS:POW2?\n", b"9.999000E-01\n")], 0.9999),
    ("interlock_tripped", (), [(b"OUTP:PROT:INTL:TRIP?\n", b"1\n")], True),
    ("keylock_tripped", (), [(b"OUTP:PROT:KEYL:TRIP?\n", b"0\n")], False),
    ("overtemperature_tripped", (), [(b"OUTP:PROT:OTEM:TRIP?\n", b"0\n")], False),
    (
        "trips",
        (),
        [
            (b"OUTP:PROT:INTL:TRIP?\n", b"1\n"),
            (b"OUTP:PROT:KEYL:TRIP?\n", b"0\n"),
            (b"OUTP:PROT:OTEM:TRIP?\n", b"1\n"),
        ],
        {"interlock": True, "keylock": False, "overtemperature": True},
    ),
    (
        "identify",
        (),
        [(b"*IDN?\n", b"Thorlabs,ITC4001,M00412345,1.8.0/1.5.0/2.3.0\n")],
        {
            "manufacturer": "Thorlabs",
            "model": "ITC4001",
            "serial": "M00412345",
            "firmware": "1.8.0/1.5.0/2.3.0",
        },
    ),
    ("reset", (), write(b"*RST\n"), None),
    ("clear_trips", (), write(b"*CLS\n"), None),
    (
        "read_status",
        (),
        [(STATUS_QUERY, b"1.0E+00;1.5E+00;1.5E+00;2.5E+01;1;0;0;0\n")],
        {
            "power_W": 1.0,
            "current_setpoint_A": 1.5,
            "current_A": 1.5,
            "tec_temperature_C": 25.0,
            "emission": True,
            "interlock": False,
            "keylock": False,
            "overtemperature": False,
        },
    ),
    ("select_constant_current", (), [(b"SOUR:FUNC:MODE?\n", b"CURR\n")], None),
    (
        "select_constant_current",
        (),
        [(b"SOUR:FUNC:MODE?\n", b"POW\n"), *write(b"SOUR:FUNC:MODE CURR\n")],
        None,
    ),
    ("laser_off", (), [*write(b"OUTP:STAT OFF\n"), (b"MEAS:CURR?\n", b"0.000000E+00\n")], None),
    (
        "shutdown",
        (),
        [
            *write(b"OUTP:STAT OFF\n"),
            (b"MEAS:CURR?\n", b"0.000000E+00\n"),
            *write(b"OUTP2:STAT OFF\n"),
        ],
        None,
    ),
]


def make(transport, **options) -> ThorlabsITC4000:
    options.setdefault("clock", SimClock("lockstep", start=1000.0))
    return ThorlabsITC4000(transport, **options)


@pytest.mark.parametrize(
    "method, args, conversation, expected",
    TABLE,
    ids=[f"{i}-{row[0]}" for i, row in enumerate(TABLE)],
)
def test_conversation(method, args, conversation, expected):
    with expect_conversation(conversation) as transport:
        result = getattr(make(transport), method)(*args)
    if isinstance(expected, float):
        assert result == pytest.approx(expected)
    else:
        assert result == expected


def test_error_after_write_becomes_instrument_error_with_code_message_command():
    with expect_conversation(
        [
            (b"SOUR:CURR 4.5\n", b""),
            (ERR, b'-222,"Data out of range;4.5 outside [0, 4]"\n'),
            NO_ERROR,
        ]
    ) as transport:
        driver = make(transport)
        with pytest.raises(InstrumentError) as info:
            driver.set_current_A(4.5)
    err = info.value
    assert err.code == -222
    assert err.message == "Data out of range;4.5 outside [0, 4]"
    assert err.command == "SOUR:CURR 4.5"
    assert "conversation://table" in str(err) and "SOUR:CURR 4.5" in str(err)


def test_every_queued_error_is_drained_and_reported():
    with (
        expect_conversation(
            [
                (b"*RST\n", b""),
                (ERR, b'-113,"Undefined header"\n'),
                (ERR, b'-350,"Queue overflow"\n'),
                NO_ERROR,
            ]
        ) as transport,
        pytest.raises(InstrumentError) as info,
    ):
        make(transport).reset()
    assert info.value.code == -113
    assert "-350" in str(info.value)


@pytest.mark.parametrize(
    "method, conversation",
    [
        ("get_current_A", [(b"SOUR:CURR?\n", b"abc\n")]),
        ("get_current_A", [(b"SOUR:CURR?\n", b"nan\n")]),
        ("get_emission", [(b"OUTP:STAT?\n", b"ON\n")]),
        ("get_mode", [(b"SOUR:FUNC:MODE?\n", b"VOLT\n")]),
        ("identify", [(b"*IDN?\n", b"Thorlabs,ITC4001\n")]),
        ("read_status", [(STATUS_QUERY, b"1;2;3\n")]),
        ("read_status", [(STATUS_QUERY, b"1;2;3;4;5;0;0;x\n")]),
        ("reset", [(b"*RST\n", b""), (ERR, b"garbage\n")]),
    ],
)
def test_malformed_reply_names_address_command_and_reply(method, conversation):
    with expect_conversation(conversation) as transport, pytest.raises(InstrumentError) as info:
        getattr(make(transport, retries=0), method)()
    text = str(info.value)
    assert "conversation://table" in text and "cannot parse the reply" in text


def test_no_reply_is_a_transport_error_naming_the_command():
    with (
        expect_conversation([(b"MEAS:CURR?\n", b"")]) as transport,
        pytest.raises(TransportError, match="MEAS:CURR"),
    ):
        make(transport, retries=0).measure_current_A()


@pytest.mark.parametrize(
    "method, value",
    [
        ("set_current_A", -0.1),
        ("set_current_A", float("nan")),
        ("set_mode", "VOLT"),
        ("set_tec_setpoint_C", float("inf")),
    ],
)
def test_invalid_arguments_send_nothing(method, value):
    with expect_conversation([]) as transport, pytest.raises(ValueError):
        getattr(make(transport), method)(value)
    assert transport.log.sent() == []


# -- the switch-on sequence ---------------------------------------------------------------
def settle_readings(temperatures):
    return [(b"MEAS:TEMP?\n", f"{t:.6E}\n".encode()) for t in temperatures]


def test_laser_on_checks_protections_waits_for_tec_then_verifies():
    clock = SimClock("lockstep", start=1000.0)
    conversation = [
        *TRIPS_CLEAR,
        (b"OUTP2:STAT?\n", b"0\n"),
        *write(b"OUTP2:STAT ON\n"),
        (b"SOUR2:TEMP?\n", b"2.500000E+01\n"),
        # polled every 0.5 s; in tolerance from t=0.5, held 1 s at t=1.5 (one dip resets)
        *settle_readings([22.0, 24.9, 25.2, 24.95, 25.0, 25.01]),
        *write(b"OUTP:STAT ON\n"),
        (b"OUTP:STAT?\n", b"1\n"),
    ]
    with expect_conversation(conversation) as transport:
        driver = make(transport, clock=clock, settle_time_s=1.0, poll_s=0.5)
        driver.laser_on()
    assert clock.now() == pytest.approx(1000.0 + 2.5)


def test_laser_on_with_tec_already_on_does_not_switch_it_again():
    conversation = [
        *TRIPS_CLEAR,
        (b"OUTP2:STAT?\n", b"1\n"),
        (b"SOUR2:TEMP?\n", b"2.500000E+01\n"),
        *settle_readings([25.0, 25.0, 25.0]),
        *write(b"OUTP:STAT ON\n"),
        (b"OUTP:STAT?\n", b"1\n"),
    ]
    with expect_conversation(conversation) as transport:
        make(transport, settle_time_s=1.0, poll_s=0.5).laser_on()


@pytest.mark.parametrize(
    "replies, words",
    [
        ((b"1\n", b"0\n", b"0\n"), ["interlock"]),
        ((b"0\n", b"1\n", b"0\n"), ["keylock"]),
        ((b"1\n", b"1\n", b"1\n"), ["interlock", "keylock", "over-temperature"]),
    ],
)
def test_laser_on_refused_by_protections_sends_nothing_else(replies, words):
    conversation = [(cmd, reply) for (cmd, _), reply in zip(TRIPS_CLEAR, replies, strict=True)]
    with expect_conversation(conversation) as transport, pytest.raises(InterlockError) as info:
        make(transport).laser_on()
    text = str(info.value)
    assert "laser emission refused" in text and "Nothing was switched on" in text
    for word in words:
        assert word in text
    assert all(not cmd.startswith(b"OUTP") or cmd.endswith(b"?\n") for cmd in transport.log.sent())


def test_laser_on_tec_not_settled_times_out_with_clear_error():
    clock = SimClock("lockstep", start=1000.0)
    conversation = [
        *TRIPS_CLEAR,
        (b"OUTP2:STAT?\n", b"1\n"),
        (b"SOUR2:TEMP?\n", b"2.500000E+01\n"),
        *settle_readings([22.0, 22.5, 23.0, 23.5, 24.0]),
    ]
    with expect_conversation(conversation) as transport:
        driver = make(transport, clock=clock, settle_timeout_s=2.0, poll_s=0.5)
        with pytest.raises(InterlockError, match="TEC not settled within 2 s") as info:
            driver.laser_on()
    assert "T = 24.000 C" in str(info.value)
    assert b"OUTP:STAT ON\n" not in transport.log.sent()


def test_laser_on_refused_by_the_controller_is_an_interlock_error():
    conversation = [
        *TRIPS_CLEAR,
        (b"OUTP2:STAT?\n", b"1\n"),
        (b"SOUR2:TEMP?\n", b"2.500000E+01\n"),
        *settle_readings([25.0] * 3),
        (b"OUTP:STAT ON\n", b""),
        (ERR, b'-221,"Settings conflict;LD output refused: TEC output off"\n'),
        NO_ERROR,
    ]
    with expect_conversation(conversation) as transport, pytest.raises(InterlockError) as info:
        make(transport, settle_time_s=1.0).laser_on()
    assert info.value.code == -221
    assert "TEC output off" in str(info.value)
    assert info.value.command == "OUTP:STAT ON"


def test_laser_on_verifies_the_output_state():
    conversation = [
        *TRIPS_CLEAR,
        (b"OUTP2:STAT?\n", b"1\n"),
        (b"SOUR2:TEMP?\n", b"2.500000E+01\n"),
        *settle_readings([25.0] * 3),
        *write(b"OUTP:STAT ON\n"),
        (b"OUTP:STAT?\n", b"0\n"),
        *TRIPS_CLEAR,
    ]
    with (
        expect_conversation(conversation) as transport,
        pytest.raises(InterlockError, match="did not switch on"),
    ):
        make(transport, settle_time_s=1.0).laser_on()


def test_laser_off_times_out_if_the_current_stays():
    conversation = [*write(b"OUTP:STAT OFF\n"), *[(b"MEAS:CURR?\n", b"1.500000E+00\n")] * 3]
    with expect_conversation(conversation) as transport:
        driver = make(transport, off_timeout_s=0.125, poll_s=0.0625)
        with pytest.raises(InstrumentError, match="LD current still 1.5 A"):
            driver.laser_off()


def test_shutdown_keeps_the_tec_on_if_the_ld_cannot_be_confirmed_off():
    conversation = [(b"OUTP:STAT OFF\n", b""), (ERR, b'-300,"Device-specific error"\n'), NO_ERROR]
    with expect_conversation(conversation) as transport, pytest.raises(InstrumentError):
        make(transport).shutdown()
    assert b"OUTP2:STAT OFF\n" not in transport.log.sent()


def test_trip_names():
    assert TRIP_NAMES == ("interlock", "keylock", "overtemperature")


# -- resilience ------------------------------------------------------------------------------
def test_a_query_is_retried_after_draining_the_errors_a_garbled_command_left():
    conversation = [
        (b"MEAS:CURR?\n", b""),  # garbled on the way: no reply, an error queued
        (ERR, b'-113,"Undefined header"\n'),
        NO_ERROR,
        (b"MEAS:CURR?\n", b"1.000000E+00\n"),
    ]
    with expect_conversation(conversation) as transport:
        driver = make(transport)
        assert driver.measure_current_A() == 1.0
    assert driver.retried == 1 and driver.discarded_errors == [(-113, "Undefined header")]


def test_a_garbled_reply_is_retried():
    conversation = [(b"OUTP:STAT?\n", b"\xb1\n"), NO_ERROR, (b"OUTP:STAT?\n", b"0\n")]
    with expect_conversation(conversation) as transport:
        assert make(transport).get_emission() is False


def test_emission_on_is_never_repeated():
    conversation = [(b"OUTP:STAT ON\n", b""), (ERR, b"")]
    with expect_conversation(conversation) as transport, pytest.raises(TransportError):
        make(transport)._set_ld_output(True)


def test_emergency_off_cancels_a_switch_on_and_confirms():
    conversation = [*write(b"OUTP:STAT OFF\n"), (b"OUTP:STAT?\n", b"0\n")]
    with expect_conversation(conversation) as transport:
        driver = make(transport)
        before = driver._off_requests
        driver.emergency_off()
    assert driver._off_requests == before + 1


def test_emergency_off_sends_the_bare_command_when_its_check_fails():
    conversation = [
        (b"OUTP:STAT OFF\n", b""),
        (ERR, b""),  # the error check gets no reply
        (b"OUTP:STAT OFF\n", b""),  # sent bare
        (b"OUTP:STAT?\n", b"1\n"),  # and still on: reported
    ]
    with (
        expect_conversation(conversation) as transport,
        pytest.raises(InstrumentError, match="still reads 1"),
    ):
        make(transport, retries=0).emergency_off()


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("save_settings", (-1,)),
        ("recall_settings", (True,)),
        ("set_on_delay_s", (float("nan"),)),
        ("set_shape", ("square",)),
        ("configure_qcw", (0.01, 0.02)),
    ],
)
def test_bad_qcw_arguments_are_refused_before_sending(method, args):
    with expect_conversation([]) as t, pytest.raises(ValueError):
        getattr(ThorlabsITC4000(t), method)(*args)


def test_wait_tec_settled_returns_once_the_temperature_held_for_the_settle_time():
    clock = SimClock("lockstep", start=1000.0)
    conversation = [
        (b"SOUR2:TEMP?\n", b"2.500000E+01\n"),
        *settle_readings([24.5, 25.0, 25.05, 25.0]),
    ]
    with expect_conversation(conversation) as transport:
        driver = make(transport, clock=clock, settle_time_s=1.0, settle_timeout_s=10.0, poll_s=0.5)
        driver.wait_tec_settled()
    assert clock.now() - 1000.0 == pytest.approx(1.5)  # in band from the 2nd reading, 1 s held
