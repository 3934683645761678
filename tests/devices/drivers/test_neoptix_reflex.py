"""Conversation tables for the Neoptix ReFlex driver: exact bytes sent and replied."""

from __future__ import annotations

import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import InstrumentError, LimitError, TransportError
from labctl.devices.drivers.neoptix_reflex import (
    ChannelInfo,
    NeoptixReflex,
    ReflexError,
    StreamReading,
)
from labctl.testing.conversation import ConversationError, expect_conversation

#: the FOB100 manual's "i" example (section 5.3), its xxx.x placeholders filled in
IDENTITY = (
    b"Model: FOB100\rOption:\rNB Channel: 4\rMode: Continuous Scanning Mode\r"
    b"Scanning rate: Slow\rSerial: FOB111A\rInternal Software: V1.21\r"
    b"Last Factory Calibration: 05/02/04 (YY/MM/DD)\rUnit: C\r"
    b"Analog out, if error: Toggle\rKeyboard Status: Unlock\r"
    b"Channel\tZero\tSpan\tEnabled\tTemperature offset\r"
    b"1\t-100.0\t350.0\tYes\t+0000.0\r2\t-100.0\t350.0\tYes\t-0001.5\r"
    b"3\t-100.0\t350.0\tNo\t+0000.0\r4\t0.0\t100.0\tYes\t+0002.0\r*"
)
POWER = (
    b"CH1: power:2.61, lamp attenuation: 250, CCD time: 50ms (fixed)\r"
    b"CH2: power:2.51, lamp attenuation: 250, CCD time: 50ms (fixed)\r"
    b"CH3: power:0.25, lamp attenuation: 125, CCD time: 50ms (fixed)\r"
    b"CH4: power:1.09, lamp attenuation: 125, CCD time: 50ms (fixed)\r*"
)


def test_t_reads_every_channel_as_in_the_manual_example():
    with expect_conversation([(b"t\r", b"+24.3\r+24.5\r+24.7\r+24.4\r*")]) as tr:
        assert NeoptixReflex(tr).read_all() == [24.3, 24.5, 24.7, 24.4]
    with expect_conversation([(b"t\r", b"+24.3\r+24.5\r---.-\r-4.4\r*")]) as tr:
        assert NeoptixReflex(tr).read_all() == [24.3, 24.5, None, -4.4]


def test_t_maps_readings_to_the_enabled_channels():
    with expect_conversation(
        [
            (b"e1 -2 3 -4\r", b"*"),
            (b"t\r", b"+36.9\r---.-\r+41.2\r---.-\r*"),
        ]
    ) as tr:
        drv = NeoptixReflex(tr)
        drv.set_enabled_channels([3, 1])
        assert drv.read_temperatures() == {1: 36.9, 3: 41.2}


def test_callers_at_the_same_clock_instant_share_one_query():
    clock = SimClock(start=10.0)
    with expect_conversation(
        [
            (b"t\r", b"+36.9\r+37.1\r*"),
            (b"t\r", b"+37.0\r+37.1\r*"),
            (b"uc\r", b"*"),
            (b"t\r", b"+37.2\r+37.1\r*"),
        ]
    ) as tr:
        drv = NeoptixReflex(tr, clock=clock, channels=2)
        drv._enabled = [1, 2]
        first = drv.read_temperatures()
        first[1] = -1.0  # callers get their own copy
        assert drv.read_temperatures() == {1: 36.9, 2: 37.1}  # no time passed: no query
        clock.sleep(0.5)
        assert drv.read_temperatures() == {1: 37.0, 2: 37.1}
        drv.set_units("c")  # any command: the next reading is asked for
        assert drv.read_temperatures() == {1: 37.2, 2: 37.1}


def test_t_with_a_missing_line_is_unparsable():
    with (
        expect_conversation([(b"t\r", b"+36.9\r+37.1\r+35.0\r*")]) as tr,
        pytest.raises(InstrumentError, match=r"reply to 't'"),
    ):
        NeoptixReflex(tr, retries=0).read_temperatures()


def test_t_one_channel_and_one_channel_model():
    with expect_conversation([(b"t2\r", b"+24.5\r*"), (b"t2\r", b"---.-\r*")]) as tr:
        drv = NeoptixReflex(tr)
        assert drv.read_channel(2) == 24.5
        assert drv.read_channel(2) is None
    with expect_conversation([(b"t\r", b"+101.7\r*"), (b"t\r", b"+101.8\r*")]) as tr:
        drv = NeoptixReflex(tr, channels=1)
        assert drv.read_channel(1) == 101.7
        assert drv.read_all() == [101.8]


def test_bad_channel_is_refused_before_sending():
    with expect_conversation([]) as tr:
        drv = NeoptixReflex(tr, channels=2)
        for bad in (0, 3, 1.0, "1"):
            with pytest.raises(ValueError):
                drv.read_channel(bad)
        with pytest.raises(ValueError):
            drv.set_enabled_channels([])
        assert tr.log.sent() == []


def test_reply_arriving_one_byte_at_a_time():
    with expect_conversation(
        [(b"t\r", b"+24.3\r+24.5\r+24.7\r+24.4\r*"), (b"q+\r", b"Err2")], chunk=1
    ) as tr:
        drv = NeoptixReflex(tr)
        assert drv.read_all() == [24.3, 24.5, 24.7, 24.4]
        with pytest.raises(ReflexError):
            drv.set_fast(True)


def test_t_on_a_disabled_channel_is_invalid_not_an_error():
    with expect_conversation([(b"t3\r", b"---.-\r*")]) as tr:
        assert NeoptixReflex(tr).read_channel(3) is None


def test_error_prompt_raises_with_code_and_command():
    with (
        expect_conversation([(b"s3 2000.0\r", b"Err2")]) as tr,
        pytest.raises(ReflexError, match=r"'s3 2000.0' refused with Err2 \(invalid") as info,
    ):
        NeoptixReflex(tr)._exchange("s3 2000.0", nlines=0)  # a span the unit refuses
    assert info.value.code == 2 and info.value.command == "s3 2000.0"
    assert tr.address in str(info.value)


@pytest.mark.parametrize("reply", [b"+24.3\r+2x.5\r+24.7\r+24.4\r*", b"24\r+1\r+2\r+3\r*"])
def test_unparsable_reply_names_command_and_bytes(reply):
    with (
        expect_conversation([(b"t\r", reply)]) as tr,
        pytest.raises(InstrumentError, match=r"reply to 't'.*\+24\.3|reply to 't'.*24\\r"),
    ):
        NeoptixReflex(tr, retries=0).read_all()


def test_wrong_number_of_lines_is_unparsable():
    with expect_conversation([(b"t1\r", b"+24.3\r+24.4\r*"), (b"b\r", b"*")]) as tr:
        drv = NeoptixReflex(tr, retries=0)
        with pytest.raises(InstrumentError, match="'t1'"):
            drv.read_channel(1)
        with pytest.raises(InstrumentError, match=r"'b': b'\*'"):
            drv.enclosure_temperature()


def test_missing_prompt_is_a_transport_error_with_what_arrived():
    with (
        expect_conversation([(b"t1\r", b"+24.3\r")]) as tr,
        pytest.raises(TransportError, match=r"no prompt after 't1'.*\+24\.3"),
    ):
        NeoptixReflex(tr, retries=0).read_channel(1)


def test_stale_bytes_before_a_command_are_dropped():
    with expect_conversation([(None, b"+99.9\r*"), (b"t1\r", b"+24.3\r*")]) as tr:
        assert NeoptixReflex(tr).read_channel(1) == 24.3


def test_stream_start_read_stop():
    with expect_conversation(
        [
            (b"ta+\r", b"*"),
            (None, b"C:1;T: +24.3\rC:2;T: ---.-\rC:4;T: -1.5\rC:1;T: +2"),
            (None, b"4.4\rC:2;T: +2"),  # arrives in a separate read
            (b"t1\r", b"4.9\r+24.5\r*"),  # the stream line completes before the reply
            (b"ta-\r", b"C:4;T: +25.0\r*"),
        ]
    ) as tr:
        clock = SimClock(start=100.0)
        drv = NeoptixReflex(tr, clock=clock)
        drv.start_stream()
        assert drv.streaming
        assert drv.read_stream() == [
            StreamReading(1, 24.3, 100.0),
            StreamReading(2, None, 100.0),
            StreamReading(4, -1.5, 100.0),
            StreamReading(1, 24.4, 100.0),
        ]
        clock.advance(0.25)
        assert drv.read_channel(1) == 24.5
        clock.advance(0.25)
        drv.stop_stream()
        assert not drv.streaming
        assert drv.read_stream() == [StreamReading(2, 24.9, 100.25), StreamReading(4, 25.0, 100.5)]


def test_stream_lines_inside_a_reply_are_kept_apart():
    with expect_conversation(
        [
            (b"ta+\r", b"*C:1;T: +24.3\r"),
            (b"t\r", b"C:2;T: +24.4\r+24.3\r+24.4\r+24.5\r+24.6\r*C:3;T: +24.5\r"),
        ]
    ) as tr:
        drv = NeoptixReflex(tr)
        drv.start_stream()
        assert drv.read_all() == [24.3, 24.4, 24.5, 24.6]
        assert [r.channel for r in drv.read_stream()] == [1, 2, 3]


def test_garbled_stream_lines_are_skipped_and_kept():
    with expect_conversation(
        [(b"ta+\r", b"*"), (None, b";T: +24.3\rC:9;T: +1.0\rC:1;T: +24.4\r")]
    ) as tr:
        drv = NeoptixReflex(tr, clock=SimClock(start=0.0))
        drv.start_stream()
        assert drv.read_stream() == [StreamReading(1, 24.4, 0.0)]
        assert list(drv.stream_errors) == [b"C:9;T: +1.0"]


def test_enable_disable_channels():
    with expect_conversation([(b"e1 2 -3 4\r", b"*"), (b"e-1 2\r", b"*")]) as tr:
        NeoptixReflex(tr).set_enabled_channels([1, 2, 4])
        drv = NeoptixReflex(tr, channels=2)
        drv.set_enabled_channels([2])
    with expect_conversation([]) as tr:  # a 1-channel model has no "e" command
        NeoptixReflex(tr, channels=1).set_enabled_channels([1])


def test_fast_slow_and_acquisition_mode():
    with expect_conversation([(b"q+\r", b"*"), (b"q-\r", b"*"), (b"i\r", IDENTITY)]) as tr:
        drv = NeoptixReflex(tr)
        drv.set_acquisition_mode("fast")
        drv.set_fast(False)
        assert drv.acquisition_mode() == "slow"
        with pytest.raises(ValueError):
            drv.set_acquisition_mode("medium")


def test_fahrenheit_readings_come_back_in_celsius():
    with expect_conversation(
        [
            (b"uf\r", b"*"),
            (b"t\r", b"+98.6\r+32.0\r---.-\r+212.0\r*"),
            (b"b\r", b"b:89.6\r*"),
            (b"ta+\r", b"*C:1;T: +104.0\r"),
            (b"uc\r", b"*"),
        ]
    ) as tr:
        drv = NeoptixReflex(tr)
        drv.set_units("f")
        assert drv.read_all() == pytest.approx([37.0, 0.0, None, 100.0])
        assert drv.enclosure_temperature() == pytest.approx(32.0)
        drv.start_stream()
        assert drv.read_stream()[0].value_C == pytest.approx(40.0)
        drv.set_units("C")
        assert drv.units == "c"


def test_enclosure_identity_offsets_enabled():
    with expect_conversation(
        [
            (b"b\r", b"b:32.2\r*"),  # the manual's example
            (b"i\r", IDENTITY),
            (b"i\r", IDENTITY),
            (b"i\r", IDENTITY),
            (b"i\r", IDENTITY),
        ]
    ) as tr:
        drv = NeoptixReflex(tr)
        assert drv.enclosure_temperature() == 32.2
        info = drv.identity()
        assert info["Serial"] == "FOB111A" and info["Internal Software"] == "V1.21"
        assert info["NB Channel"] == "4" and info["Keyboard Status"] == "Unlock"
        assert drv.offsets_C() == {1: 0.0, 2: -1.5, 3: 0.0, 4: 2.0}
        assert drv.enabled_channels() == (1, 2, 4)
        assert drv.channel_table()[4] == ChannelInfo(0.0, 100.0, True, 2.0)


def test_identity_without_channel_lines_is_an_error():
    with (
        expect_conversation([(b"i\r", b"Model: X\r*")]) as tr,
        pytest.raises(InstrumentError, match="does not list channels"),
    ):
        NeoptixReflex(tr, retries=0).enabled_channels()


def test_probe_power_and_status():
    with expect_conversation([(b"y\r", POWER), (b"y\r", POWER)]) as tr:
        drv = NeoptixReflex(tr)
        assert drv.probe_power() == {1: 2.61, 2: 2.51, 3: 0.25, 4: 1.09}
        assert drv.probe_status() == {1: "ok", 2: "ok", 3: "fault", 4: "no probe"}


def test_probe_power_missing_channel_is_unparsable():
    with (
        expect_conversation([(b"y\r", POWER.split(b"CH4")[0] + b"*")]) as tr,
        pytest.raises(InstrumentError, match="reply to 'y'"),
    ):
        NeoptixReflex(tr, retries=0).probe_power()


def test_force_reading_reads_first_then_forces():
    with expect_conversation(
        [
            (b"t2\r", b"+36.4\r*"),
            (b"f2 37.0\r", b"*"),
            (b"f2\r", b"*"),
        ]
    ) as tr:
        drv = NeoptixReflex(tr)
        drv.force_reading(2, 37.0)
        drv.reset_calibration(2)
    with expect_conversation([(b"t\r", b"+36.4\r*"), (b"f 37.0\r", b"*")]) as tr:
        NeoptixReflex(tr, channels=1).force_reading(1, 37.0)


def test_force_beyond_five_degrees_is_refused_before_f_is_sent():
    with expect_conversation([(b"t2\r", b"+30.0\r*"), (b"t2\r", b"---.-\r*")]) as tr:
        drv = NeoptixReflex(tr)
        with pytest.raises(LimitError, match=r"\+7\.0 C, beyond \+/-5 C; nothing was sent"):
            drv.force_reading(2, 37.0)
        with pytest.raises(InstrumentError, match="no valid reading"):
            drv.force_reading(2, 37.0)
        assert tr.log.sent() == [b"t2\r", b"t2\r"]


def test_initialize_stops_stream_and_selects_celsius():
    with expect_conversation([(b"ta-\r", b"*"), (b"uc\r", b"*")]) as tr:
        drv = NeoptixReflex(tr)
        drv.units = "f"
        drv.initialize()
        assert drv.units == "c" and not drv.streaming


def test_conversation_fixture_reports_mismatch_and_leftovers():
    with (
        pytest.raises(ConversationError, match=r"entry 0: expected.*b't\\r', got b'b\\r'"),
        expect_conversation([(b"t\r", b"+1.0\r*")]) as tr,
    ):
        tr.write(b"b\r")
    with (
        pytest.raises(ConversationError, match="1 entries not played"),
        expect_conversation([(b"t\r", b"+1.0\r*")]),
    ):
        pass
    with (
        pytest.raises(ConversationError, match="never read"),
        expect_conversation([(b"t\r", b"+1.0\r*")]) as tr,
    ):
        tr.write(b"t\r")


# -- resilience ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [b"+2\x974.3\r+24.5\r*", b"", b"Err1", b"+24.3\r+\r*"])
def test_t_is_retried_after_garbage_no_reply_or_err1(bad):
    table = [(b"t\r", bad), (b"t\r", b"+24.3\r+24.5\r+24.7\r+24.4\r*")]
    with expect_conversation(table) as tr:
        driver = NeoptixReflex(tr)
        assert driver.read_all() == [24.3, 24.5, 24.7, 24.4]
    assert driver.retried == 1


def test_a_refusal_is_not_retried_and_settings_are_sent_once():
    with expect_conversation([(b"p+\r", b"Err2")]) as tr, pytest.raises(ReflexError):
        NeoptixReflex(tr).set_sleep(True)
    with expect_conversation([(b"uc\r", b"")]) as tr, pytest.raises(TransportError):
        NeoptixReflex(tr).set_units("c")


def test_retries_are_bounded():
    with (
        expect_conversation([(b"b\r", b"*")] * 2) as tr,
        pytest.raises(InstrumentError, match="2 attempts"),
    ):
        NeoptixReflex(tr, retries=1).enclosure_temperature()


#: the FOB100 manual's "y" example (section 5.3)
MANUAL_Y = (
    b"CH1: power:2.61, lamp attenuation: 250, CCD time: 50ms (fixed)\r"
    b"CH2: power:2.51, lamp attenuation: 250, CCD time: 50ms (fixed)\r"
    b"CH3: power:2.38, lamp attenuation: 125, CCD time: 50ms (fixed)\r"
    b"CH4: power:1.09, lamp attenuation: 125, CCD time: 50ms (fixed)\r*"
)


def test_y_as_in_the_manual_example():
    with expect_conversation([(b"y\r", MANUAL_Y)]) as tr:
        status = NeoptixReflex(tr).probe_status()
    assert status == {1: "ok", 2: "ok", 3: "ok", 4: "no probe"}  # 0.3-1.1: no probe


SETTINGS = [
    ("lock_keypad", (True,), b"l+\r"),
    ("lock_keypad", (False,), b"l-\r"),
    ("set_sleep", (True,), b"p+\r"),
    ("set_sleep", (False,), b"p-\r"),
    ("set_analog_on_error", (1,), b"o1\r"),
    ("set_analog_span", (2, 300.0), b"s2 300.0\r"),
    ("set_analog_zero", (4, -100.0), b"z4 -100.0\r"),
]


@pytest.mark.parametrize(
    ("method", "args", "sent"), SETTINGS, ids=[r[2].decode() for r in SETTINGS]
)
def test_settings_conversation(method, args, sent):
    with expect_conversation([(sent, b"*")]) as tr:
        getattr(NeoptixReflex(tr), method)(*args)


def test_settings_on_a_one_channel_model_omit_the_index():
    with expect_conversation([(b"s 300.0\r", b"*"), (b"z 0.0\r", b"*")]) as tr:
        drv = NeoptixReflex(tr, channels=1)
        drv.set_analog_span(1, 300.0)
        drv.set_analog_zero(1, 0.0)


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("set_analog_on_error", (3,)),
        ("set_analog_span", (1, 0.5)),
        ("set_analog_span", (1, float("nan"))),
        ("set_analog_zero", (1, -200.0)),
        ("set_analog_zero", (5, 0.0)),
    ],
)
def test_bad_settings_are_refused_before_sending(method, args):
    with expect_conversation([]) as tr, pytest.raises(ValueError):
        getattr(NeoptixReflex(tr), method)(*args)


def test_help_lines():
    reply = b"b Return enclosure temperature\rh Help menu (this screen)\r*"
    with expect_conversation([(b"h\r", reply)]) as tr:
        lines = NeoptixReflex(tr).help_lines()
    assert lines == ["b Return enclosure temperature", "h Help menu (this screen)"]


def test_err1_during_warm_up_is_retried():
    table = [(b"t\r", b"Err1"), (b"t\r", b"Err1"), (b"t\r", b"+24.3\r+24.5\r+24.7\r+24.4\r*")]
    with expect_conversation(table) as tr:
        assert NeoptixReflex(tr, retries=2).read_all() == [24.3, 24.5, 24.7, 24.4]


def test_probes_detected_from_the_probe_power():
    with expect_conversation([(b"y\r", POWER)]) as tr:
        assert NeoptixReflex(tr).probes_detected() == {1: True, 2: True, 3: False, 4: False}
