"""Resonant coil on a CPX400: conversation tables and the coil description."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from labctl.core.errors import InstrumentError, InterlockError, LimitError
from labctl.devices.amf import AMFDriver, AMFFault
from labctl.devices.drivers.resonant_coil import (
    CoilGeometry,
    ResonantCoilCPX400,
    ResonantCoilOptions,
    thick_solenoid_field_per_A,
)
from labctl.testing.conversation import expected_protocol

EER_OK = (b"EER?\n", b"0\r\n")
COIL = {"turns": 18, "length_mm": 54, "inner_radius_mm": 13, "outer_radius_mm": 23}
OPTIONS = {
    "coil": COIL,
    "capacitor_bank": {"200nF": 152600.0, "88nF": 230000.0, "26nF": 423200.0},
    "capacitor": "88nF",
    "k2": {"200nF": 4.0, "88nF": 5.0},
}


def coil(table):
    return expected_protocol(ResonantCoilCPX400, table, **OPTIONS)


def test_thick_solenoid_field_of_the_magnetherm_coil():
    # N = 18, L = 54 mm, R1 = 13 mm, R2 = 23 mm: 0.277 kA/m per coil ampere at the centre
    assert thick_solenoid_field_per_A(CoilGeometry(**COIL)) == pytest.approx(0.2772, abs=2e-4)


def test_options_check_the_capacitor():
    with pytest.raises(ValidationError, match="not in capacitor_bank"):
        ResonantCoilOptions(**{**OPTIONS, "capacitor": "15nF"})
    with pytest.raises(ValidationError, match="k2"):
        ResonantCoilOptions(**{**OPTIONS, "capacitor": "26nF"})
    with pytest.raises(ValidationError):
        ResonantCoilOptions(**OPTIONS, slave_id=3)
    with pytest.raises(ValidationError, match="outer_radius_mm"):
        CoilGeometry(**{**COIL, "outer_radius_mm": 10})


def test_is_an_amf_driver():
    with coil([]) as drv:
        assert isinstance(drv, AMFDriver)
        assert (drv.kind, drv.wire, drv.emulator) == ("amf", "scpi", "aimtti_cpx400_coil")
        assert drv.frequency_Hz == 230000.0


def test_take_control_sets_the_ceiling_and_the_trip():
    table = [(b"*CLS\n", b""), (b"V1 60.00\n", b""), EER_OK, (b"OCP1 21.00\n", b""), EER_OK]
    with coil(table) as drv:
        drv.take_control()


def test_coil_current_is_sent_as_supply_current_through_k2():
    with coil([(b"I1 8.000\n", b""), EER_OK]) as drv:
        drv.set_current(40.0)  # 40 A in the coil / k2 5 = 8 A from the supply


def test_coil_current_beyond_the_supply_sends_nothing():
    with coil([]) as drv, pytest.raises(LimitError, match="nothing was sent"):
        drv.set_current(120.0)  # 24 A from the supply


def test_status_in_coil_amperes():
    table = [
        (b"OP1?\n", b"1\r\n"),
        (b"I1?\n", b"I1 8.000\r\n"),
        (b"V1O?\n", b"20.00V\r\n"),
        (b"I1O?\n", b"8.000A\r\n"),
        (b"LSR1?\n", b"2\r\n"),
    ]
    with coil(table) as drv:
        st = drv.status()
    assert (st.heating, st.setpoint_A, st.current_A, st.power_W) == (True, 40.0, 40.0, 160.0)
    assert st.frequency_Hz == 230000.0 and st.faults == AMFFault.NONE


def test_frequency_is_the_fitted_capacitor_and_refused_while_on():
    with coil([(b"OP1?\n", b"0\r\n")]) as drv:
        drv.set_frequency(230000.0)
    with coil([(b"OP1?\n", b"0\r\n")]) as drv, pytest.raises(InstrumentError, match="200nF|88nF"):
        drv.set_frequency(152600.0)
    with coil([(b"OP1?\n", b"1\r\n")]) as drv, pytest.raises(InstrumentError, match="output is on"):
        drv.set_frequency(230000.0)


def test_heat_on_refused_while_a_trip_is_latched():
    with coil([(b"LSR1?\n", b"8\r\n")]) as drv, pytest.raises(InterlockError, match="over-current"):
        drv.heat_on()


def test_heat_on_and_off():
    table = [(b"LSR1?\n", b"0\r\n"), (b"OP1 1\n", b""), EER_OK, (b"OP1?\n", b"1\r\n")]
    table += [(b"OP1 0\n", b""), EER_OK, (b"OP1?\n", b"0\r\n")]
    with coil(table) as drv:
        drv.heat_on()
        drv.heat_off()


def test_clear_faults_reports_what_stays_latched():
    table = [(b"TRIPRST\n", b""), EER_OK, (b"LSR1?\n", b"8\r\n")]
    with coil(table) as drv:
        assert drv.clear_faults() == AMFFault.POWER_ALARM


def test_identity_adds_the_fitted_capacitor():
    table = [(b"*IDN?\n", b"THURLBY THANDAR, CPX400DP, 512345, 2.03-1.00-1.01\r\n")]
    with coil(table) as drv:
        info = drv.identity()
    assert info["Model"] == "CPX400DP" and info["Capacitor"] == "88nF (230 kHz)"


def test_wait_for_current_polls_until_the_coil_current_is_there():
    status = [
        (b"OP1?\n", b"1\r\n"),
        (b"I1?\n", b"I1 8.000\r\n"),
        (b"V1O?\n", b"20.00V\r\n"),
        (b"I1O?\n", b"7.990A\r\n"),
        (b"LSR1?\n", b"2\r\n"),
    ]
    with coil(status) as drv:
        assert drv.supply_current_for(40.0) == 8.0
        st = drv.wait_for_current(tolerance_A=0.1, timeout_s=1.0)
    assert st.current_A == pytest.approx(39.95)


def test_wait_for_current_reports_a_trip():
    status = [
        (b"OP1?\n", b"0\r\n"),
        (b"I1?\n", b"I1 8.000\r\n"),
        (b"V1O?\n", b"0.00V\r\n"),
        (b"I1O?\n", b"0.000A\r\n"),
        (b"LSR1?\n", b"8\r\n"),
    ]
    with coil(status) as drv, pytest.raises(InterlockError, match="POWER_ALARM"):
        drv.wait_for_current(timeout_s=1.0)
