"""Aim-TTi CPX400 driver: conversation tables with the exact bytes."""

from __future__ import annotations

import math

import pytest

from labctl.core.errors import InstrumentError, LimitError
from labctl.devices.drivers.aimtti_cpx400 import AimTTiCPX400, CPX400Error
from labctl.testing.conversation import expected_protocol

EER_OK = (b"EER?\n", b"0\r\n")


def test_identity():
    table = [(b"*IDN?\n", b"THURLBY THANDAR, CPX400DP, 512345, 2.03-1.00-1.01\r\n")]
    with expected_protocol(AimTTiCPX400, table) as psu:
        assert psu.identity() == {
            "Manufacturer": "THURLBY THANDAR",
            "Model": "CPX400DP",
            "Serial": "512345",
            "Version": "2.03-1.00-1.01",
        }


def test_identity_of_another_instrument_is_refused():
    with (
        expected_protocol(AimTTiCPX400, [(b"*IDN?\n", b"KEITHLEY,2400,1,C30\r\n")]) as psu,
        pytest.raises(InstrumentError, match="not a CPX400 identity"),
    ):
        psu.identity()


def test_settings_are_checked_with_the_execution_error_register():
    table = [
        (b"V1 12.00\n", b""),
        EER_OK,
        (b"I1 5.000\n", b""),
        EER_OK,
        (b"OVP1 30.00\n", b""),
        EER_OK,
        (b"OCP1 8.00\n", b""),
        EER_OK,
    ]
    with expected_protocol(AimTTiCPX400, table) as psu:
        psu.set_voltage(12)
        psu.set_current(5)
        psu.set_ovp(30)
        psu.set_ocp(8)


def test_second_output():
    table = [(b"V2 3.30\n", b""), EER_OK, (b"V2?\n", b"V2 3.30\r\n")]
    with expected_protocol(AimTTiCPX400, table, output=2) as psu:
        psu.set_voltage(3.3)
        assert psu.voltage_setpoint() == 3.3


def test_refused_setting_raises_with_the_code():
    table = [(b"OCP1 22.00\n", b""), (b"EER?\n", b"100\r\n")]
    with expected_protocol(AimTTiCPX400, table) as psu, pytest.raises(CPX400Error) as err:
        psu.set_ocp(22)
    assert err.value.code == 100 and "OCP1 22.00" in str(err.value)


@pytest.mark.parametrize("value", [-0.1, 60.01, math.nan, math.inf, True])
def test_out_of_range_voltage_sends_nothing(value):
    with expected_protocol(AimTTiCPX400, []) as psu, pytest.raises(LimitError, match="voltage"):
        psu.set_voltage(value)


def test_queries_in_the_supply_reply_format():
    table = [
        (b"V1?\n", b"V1 12.00\r\n"),
        (b"I1?\n", b"I1 5.000\r\n"),
        (b"OVP1?\n", b"VP1 66.00\r\n"),
        (b"OCP1?\n", b"CP1 22.00\r\n"),
        (b"V1O?\n", b"12.00V\r\n"),
        (b"I1O?\n", b"4.800A\r\n"),
        (b"LSR1?\n", b"2\r\n"),
        (b"LSR1?\n", b"8\r\n"),
    ]
    with expected_protocol(AimTTiCPX400, table) as psu:
        assert psu.voltage_setpoint() == 12.0
        assert psu.current_setpoint() == 5.0
        assert psu.ovp() == 66.0
        assert psu.ocp() == 22.0
        assert psu.readback() == (12.0, 4.8)
        assert psu.limit_status().constant_current
        lsr = psu.limit_status()
        assert lsr.ocp_tripped and not lsr.constant_current


def test_output_switching_is_confirmed():
    table = [(b"OP1 1\n", b""), EER_OK, (b"OP1?\n", b"1\r\n")]
    table += [(b"OP1 1\n", b""), EER_OK, (b"OP1?\n", b"0\r\n")]
    with expected_protocol(AimTTiCPX400, table) as psu:
        psu.set_output(True)
        with pytest.raises(InstrumentError, match="did not switch on"):
            psu.set_output(True)


def test_trip_reset_and_clear():
    table = [(b"TRIPRST\n", b""), EER_OK, (b"*CLS\n", b"")]
    with expected_protocol(AimTTiCPX400, table) as psu:
        psu.reset_trips()
        psu.clear()


@pytest.mark.parametrize(
    ("query", "reply"), [(b"V1O?\n", b"12.00A\r\n"), (b"V1O?\n", b"nanV\r\n"), (b"V1O?\n", b"\r\n")]
)
def test_bad_readback_names_the_command(query, reply):
    with (
        expected_protocol(AimTTiCPX400, [(query, reply)]) as psu,
        pytest.raises(InstrumentError, match="V1O"),
    ):
        psu.readback()
