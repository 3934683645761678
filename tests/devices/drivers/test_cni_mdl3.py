"""CNI MDL-III driver: conversation tables with the exact frames and checksums."""

from __future__ import annotations

import math

import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import InstrumentError, LimitError, TransportError
from labctl.devices.drivers.cni_mdl3 import CNIMDL3, OFF_FRAME, ON_FRAME, power_frame
from labctl.devices.laser import LaserDriver
from labctl.testing.conversation import expected_protocol

ON = bytes.fromhex("55 aa 03 01 04")
OFF = bytes.fromhex("55 aa 03 00 03")


def test_frames_of_the_reference_client():
    assert ON_FRAME == ON and OFF_FRAME == OFF
    # 1000 mW = 0x03E8: checksum 05 + 03 + 03 + E8 = 0xF3
    assert power_frame(1000) == bytes.fromhex("55 aa 05 03 03 e8 f3")
    # 2300 mW = 0x08FC: 05 + 03 + 08 + FC = 0x10C -> 0C
    assert power_frame(2300) == bytes.fromhex("55 aa 05 03 08 fc 0c")


def test_is_a_laser_driver():
    with expected_protocol(CNIMDL3, []) as drv:
        assert isinstance(drv, LaserDriver)
        assert (drv.kind, drv.wire, drv.emulator) == ("laser", "serial", "cni_mdl3")


def test_current_goes_out_as_power_in_the_controller_calibration():
    # 1.3445 A -> (1.3445 - 0.28916859) / 0.00105531 = 1000.0 mW
    table = [(power_frame(1000), power_frame(1000))]
    with expected_protocol(CNIMDL3, table) as drv:
        drv.set_current_A(1.34447859 + 1e-9)
        assert drv.get_current_A() == pytest.approx(1.34447859)
        assert drv.measure_power_W() == 0.0  # off


def test_below_threshold_is_zero_power():
    with expected_protocol(CNIMDL3, [(power_frame(0), power_frame(0))]) as drv:
        drv.set_current_A(0.2)


def test_switch_on_pauses_10_ms_then_resends_the_power():
    clock = SimClock(start=0.0)
    table = [(power_frame(500), power_frame(500)), (ON, ON), (power_frame(500), power_frame(500))]
    with expected_protocol(CNIMDL3, table, clock=clock) as drv:
        drv.set_current_A(CNIMDL3.current_for_power_mW(500.5))
        t0 = clock.now()
        drv.laser_on()
        assert clock.now() - t0 == pytest.approx(0.010)
        assert drv.get_emission() and drv.measure_power_W() == 0.5
        assert drv.read_status()["emission"] is True


def test_off_and_shutdown():
    with expected_protocol(CNIMDL3, [(OFF, OFF), (OFF, OFF)]) as drv:
        drv.laser_off()
        drv.shutdown()
        assert not drv.get_emission() and drv.measure_current_A() == 0.0


def test_asynchronous_bytes_before_the_echo_are_kept():
    table = [(ON, b"\x00\x7f"), (None, ON[:2]), (None, ON[2:]), (power_frame(0), power_frame(0))]
    with expected_protocol(CNIMDL3, table) as drv:
        drv.laser_on()
    assert list(drv.unsolicited) == [b"\x00\x7f"]


def test_a_controller_that_does_not_echo_is_reported():
    with (
        expected_protocol(CNIMDL3, [(OFF, b"")]) as drv,
        pytest.raises(TransportError, match="no echo of 55 aa 03 00 03"),
    ):
        drv.laser_off()


def test_without_acknowledge_nothing_is_awaited():
    with expected_protocol(CNIMDL3, [(OFF, b"")], acknowledge=False) as drv:
        drv.laser_off()


@pytest.mark.parametrize("current", [3.0, math.nan, -1.0])
def test_over_the_ceiling_or_bad_current_sends_nothing(current):
    with expected_protocol(CNIMDL3, []) as drv, pytest.raises(LimitError):
        drv.set_current_A(current)


def test_what_the_link_cannot_tell():
    with expected_protocol(CNIMDL3, []) as drv:
        assert (
            drv.identity()
            == drv.identify()
            == {
                "Model": "CNI MDL-III",
                "Link": "conversation://table",
            }
        )
        drv.select_constant_current()  # nothing to send: it always regulates current
        assert drv.trips() == {"interlock": False, "keylock": False, "overtemperature": False}
        assert math.isnan(drv.get_tec_setpoint_C())
        assert CNIMDL3.power_mW_for_current(1.34447859) == pytest.approx(1000.0)
        assert math.isnan(drv.get_tec_temperature_C())
        with pytest.raises(InstrumentError, match="TEC"):
            drv.set_tec_setpoint_C(25.0)
