"""OSENSA FTX driver: conversation tables with the exact Modbus RTU frames (CRC included)."""

from __future__ import annotations

import pytest
from labctl_osensa import OsensaFTX

from labctl.core.errors import InstrumentError, TransportError
from labctl.devices import ThermometerDriver
from labctl.testing.conversation import expect_conversation, expected_protocol

H = bytes.fromhex
# slave 40 (0x28), function 3
SERIAL_Q = H("28 03 00 02 00 02 62 32")
SERIAL_R = H("28 03 04 01 41 0b 81 d4 49")  # 0x01410B81 = 21040001
FAST_Q = H("28 03 04 00 00 03 03 02")
FAST_R = H("28 03 06 0e 88 00 01 09 e2 e4 0c")  # 37.2 C ok, status 1, 25.3 C ok
BLOCK1_Q = H("28 03 10 00 00 08 47 35")
BLOCK1_R = H(  # 310.25 K, 2000.5 us, light 2100, LED 25, reserved, status 0
    "28 03 10 01 36 40 00 07 d0 80 00 08 34 00 19 00 00 00 00 b5 42"
)
BLOCK2_Q = H("28 03 10 10 00 08 46 f0")
BLOCK2_R = H("28 03 10 00 00 00 00 00 00 00 00 00 0c 00 19 00 00 00 01 a0 01")  # no signal
PCB_Q = H("28 03 10 30 00 01 87 3c")
PCB_R = H("28 03 02 0b d6 63 2c")  # 3030 -> 30.0 C
STATUS_Q = {1: H("28 03 10 07 00 01 36 f2"), 2: H("28 03 10 17 00 01 37 37")}
STATUS_Q[3] = H("28 03 10 27 00 01 37 38")
ZERO_R, ONE_R = H("28 03 02 00 00 e5 82"), H("28 03 02 00 01 24 42")


def test_is_a_thermometer_driver_with_plugin_attributes():
    with expected_protocol(OsensaFTX, []) as ftx:
        assert isinstance(ftx, ThermometerDriver)
    assert (OsensaFTX.kind, OsensaFTX.wire, OsensaFTX.emulator) == (
        "thermometer",
        "serial",
        "osensa_ftx",
    )
    assert OsensaFTX.Options(slave_id=40).model_dump() == {
        "transmitter_channels": 3,
        "slave_id": 40,
    }
    with pytest.raises(ValueError):
        OsensaFTX.Options(baud=9600)


def test_initialize_reads_the_serial_number():
    with expected_protocol(OsensaFTX, [(SERIAL_Q, SERIAL_R)]) as ftx:
        ftx.initialize()
    with expected_protocol(OsensaFTX, [(SERIAL_Q, SERIAL_R)]) as ftx:
        assert ftx.serial_number() == 21040001


def test_fast_temperatures_with_status_digit():
    with expected_protocol(OsensaFTX, [(FAST_Q, FAST_R)]) as ftx:
        assert ftx.read_temperatures() == {1: 37.2, 2: None, 3: 25.3}


def test_enabled_channels_select_what_is_reported_without_a_command():
    with expected_protocol(OsensaFTX, [(FAST_Q, FAST_R)]) as ftx:
        ftx.set_enabled_channels([3, 1])
        assert ftx.enabled_channels() == (1, 3)
        assert ftx.read_temperatures() == {1: 37.2, 3: 25.3}
        with pytest.raises(ValueError, match="1..3"):
            ftx.set_enabled_channels([4])


def test_full_block_of_a_channel():
    with expected_protocol(OsensaFTX, [(BLOCK1_Q, BLOCK1_R), (BLOCK1_Q, BLOCK1_R)]) as ftx:
        data = ftx.read_block(1)
        assert data.temperature_C == pytest.approx(37.25, abs=1e-9)
        assert data.decay_us == pytest.approx(2000.5)
        assert (data.light_level, data.led_current_mA, data.status) == (2100, 25, 0)
        assert ftx.read_channel(1) == pytest.approx(37.25)


def test_slow_mode_reads_each_enabled_block_and_no_signal_reads_none():
    table = [(BLOCK1_Q, BLOCK1_R), (BLOCK2_Q, BLOCK2_R)]
    with expected_protocol(OsensaFTX, table) as ftx:
        ftx.set_enabled_channels([1, 2])
        ftx.set_acquisition_mode("slow")
        assert ftx.acquisition_mode() == "slow"
        values = ftx.read_temperatures()
    assert values[1] == pytest.approx(37.25) and values[2] is None


def test_probe_status_and_pcb_temperature():
    table = [(STATUS_Q[1], ZERO_R), (STATUS_Q[2], ONE_R), (STATUS_Q[3], ZERO_R), (PCB_Q, PCB_R)]
    with expected_protocol(OsensaFTX, table) as ftx:
        assert ftx.probe_status() == {1: "ok", 2: "no probe", 3: "ok"}
        assert ftx.enclosure_temperature() == pytest.approx(30.0)


def test_single_channel_transmitter_answers_as_slave_247():
    table = [(H("f7 03 04 00 00 01 91 ac"), H("f7 03 02 0e 88 74 57"))]
    with expected_protocol(OsensaFTX, table, transmitter_channels=1) as ftx:
        assert ftx.slave_id == 247
        assert ftx.read_temperatures() == {1: 37.2}


def test_corrupt_reply_is_retried_once():
    bad = FAST_R[:-1] + bytes([FAST_R[-1] ^ 0xFF])
    with expected_protocol(OsensaFTX, [(FAST_Q, bad), (FAST_Q, FAST_R)]) as ftx:
        assert ftx.read_fast()[1] == 37.2


def test_no_reply_names_the_address_slave_and_register():
    with (
        expected_protocol(OsensaFTX, [(SERIAL_Q, b""), (SERIAL_Q, b"")]) as ftx,
        pytest.raises(TransportError, match=r"conversation://table \(slave 40\).*serial number"),
    ):
        ftx.serial_number()


def test_exception_reply_is_an_instrument_error():
    table = [(H("28 03 00 0a 00 01 a3 f1"), H("28 83 02 11 39"))]
    with (
        expected_protocol(OsensaFTX, table) as ftx,
        pytest.raises(InstrumentError, match="refused reading the device id"),
    ):
        ftx.device_id()


@pytest.mark.parametrize("bad", [0, 248, True, "40"])
def test_bad_slave_id(bad):
    with pytest.raises(ValueError, match="slave_id"):
        OsensaFTX(expect_conversation([]), slave_id=bad)
