"""Hostile inputs: arbitrary instrument replies and arbitrary bench/protocol files.

Every reply parser of the three drivers is fed arbitrary bytes (and near-valid replies
with bytes changed) through a scripted transport; the bench and protocol loaders are fed
arbitrary text and mutated valid files.  Only labctl errors may escape, and no
energizing command may be sent.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labctl.bench import Bench
from labctl.config.bench_file import load_bench_config
from labctl.core.clock import SimClock
from labctl.core.errors import LabctlError
from labctl.core.transport import Transport
from labctl.devices.drivers.ambrell_easyheat import AmbrellEasyHeat
from labctl.devices.drivers.neoptix_reflex import NeoptixReflex
from labctl.devices.drivers.thorlabs_itc4000 import ThorlabsITC4000
from labctl.protocol.runner import load_protocol

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
#: bytes that would energize an output if sent
ENERGIZING = (b",hon", b"OUTP:STAT ON", b"OUTP1:STAT ON", b"OUTP ON")


class ScriptedTransport(Transport):
    """Answers each write with the next scripted reply; nothing arrives while waiting."""

    def __init__(self, replies: list[bytes], unsolicited: bytes = b"") -> None:
        super().__init__("fuzz://instrument", timeout=0.01, log=True)
        self.replies = list(replies)
        self._incoming = bytearray(unsolicited)

    def _raw_write(self, data: bytes) -> None:
        if self.replies and data.endswith((b"\r", b"\n")):
            self._incoming.extend(self.replies.pop(0))

    def _raw_read(self, timeout_s: float) -> bytes:
        out = bytes(self._incoming)
        self._incoming.clear()
        return out

    def _can_wait(self) -> bool:
        return False

    def _raw_close(self) -> None:
        pass


VALID = {
    "neoptix": [
        b"+24.3\r+24.5\r---.-\r+24.4\r*",
        b"b:32.2\r*",
        b"Err2",
        b"Model: FOB100\rScanning rate: Fast\rChannel\tZero\tSpan\tEnabled\tTemperature offset\r"
        b"1\t-100.0\t350.0\tYes\t+0000.0\r2\t-100.0\t350.0\tNo\t-0001.5\r"
        b"3\t-100.0\t350.0\tYes\t+0000.0\r4\t-100.0\t350.0\tYes\t+0002.0\r*",
        b"CH1: power:2.61, x\rCH2: power:0.5, x\rCH3: power:2.3, x\rCH4: power:1.0, x\r*",
        b"C:2;T: +24.5\r",
    ],
    "amf": [
        b"\r\n1,1,280.0,280.0,1006,286,0,972\r\n",
        b"\r\n0\r\n",
        b"\r\n600\r\n",
        b"\r\n12345\r\n",
        b"\r\n220.0,53.6,421.2,87.9,62.8\r\n",
        b"\r\namps - x\r\nhoff - y\r\n",
    ],
    "itc": [
        b"1.500000E+00\n",
        b"1\n",
        b"CURR\n",
        b"Thorlabs,ITC4001,M1,1.0\n",
        b'+0,"No error"\n',
        b'-221,"Settings conflict"\n',
        b"0.5;1.0;1.0;25.0;1;0;0;0\n",
    ],
}


def replies(kind: str):
    """Lists of replies: arbitrary bytes, or valid replies with a few bytes changed."""

    def mutate(args):
        base, edits = args
        data = bytearray(base)
        for pos, value in edits:
            if data:
                data[pos % len(data)] = value
        return bytes(data)

    near_valid = st.tuples(
        st.sampled_from(VALID[kind]),
        st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
    ).map(mutate)
    one = st.one_of(st.binary(max_size=120), near_valid, st.sampled_from(VALID[kind]), framed(kind))
    return st.lists(one, min_size=1, max_size=8)


def framed(kind: str):
    """Well-framed replies whose content is made of the characters the parsers look at."""
    chars = {
        "neoptix": "+-0123456789.:;, CHTbEnablYesNoOfftpowr*\x00\xff",
        "amf": "0123456789.,+-ERROKx \xb5",
        "itc": '0123456789.,;+-E" einfaNOCURPW\x80',
    }[kind]
    text = st.text(alphabet=chars, max_size=40).map(lambda t: t.encode("latin-1"))
    if kind == "neoptix":
        end = st.sampled_from([b"*", b"Err1", b"Err2", b"Err", b""])
        return st.tuples(st.lists(text, max_size=5), end).map(
            lambda a: b"".join(line + b"\r" for line in a[0]) + a[1]
        )
    if kind == "amf":
        head = st.sampled_from([b"\r\n1,", b"\r\n2,", b"\r\n", b"1,", b""])
        return st.tuples(head, text).map(lambda a: a[0] + a[1] + b"\r\n")
    return text.map(lambda t: t + b"\n")


def check_call(call, transport: ScriptedTransport) -> None:
    with contextlib.suppress(LabctlError):
        call()
    sent = b"".join(transport.log.sent())
    assert not any(word in sent for word in ENERGIZING), sent


NEOPTIX_CALLS = {
    "read_all": lambda d: d.read_all(),
    "read_channel": lambda d: d.read_channel(2),
    "read_temperatures": lambda d: d.read_temperatures(),
    "enclosure_temperature": lambda d: d.enclosure_temperature(),
    "identity": lambda d: d.identity(),
    "enabled_channels": lambda d: d.enabled_channels(),
    "offsets_C": lambda d: d.offsets_C(),
    "acquisition_mode": lambda d: d.acquisition_mode(),
    "probe_status": lambda d: d.probe_status(),
    "force_reading": lambda d: d.force_reading(1, 25.0),
    "read_stream": lambda d: d.read_stream(),
}
AMF_CALLS = {
    "read_status_line": lambda d: d.read_status_line(),
    "faults": lambda d: d.faults(),
    "status": lambda d: d.status(),
    "max_current": lambda d: d.max_current(),
    "system_id": lambda d: d.system_id(),
    "unit_status": lambda d: d.unit_status(),
    "help": lambda d: d.help(),
    "heat_off": lambda d: d.heat_off(),
    "clear_faults": lambda d: d.clear_faults(),
    "emergency_off": lambda d: d.emergency_off(),
    "wait_for_current": lambda d: d.wait_for_current(timeout_s=1.0, poll_s=0.25),
}
ITC_CALLS = {
    "get_current_A": lambda d: d.get_current_A(),
    "get_emission": lambda d: d.get_emission(),
    "get_mode": lambda d: d.get_mode(),
    "identify": lambda d: d.identify(),
    "read_status": lambda d: d.read_status(),
    "trips": lambda d: d.trips(),
    "measure_power_W": lambda d: d.measure_power_W(),
    "set_current_A": lambda d: d.set_current_A(1.0),
    "laser_off": lambda d: d.laser_off(),
    "emergency_off": lambda d: d.emergency_off(),
    "wait_tec_settled": lambda d: d.wait_tec_settled(),
}


def run_all(calls: dict, make, data: list[bytes], unsolicited: bytes = b"") -> None:
    """Every parser of a driver on the same replies (a fresh transport each)."""
    for call in calls.values():
        transport = ScriptedTransport(data, unsolicited)
        driver = make(transport)
        check_call(lambda: call(driver), transport)  # noqa: B023


@FUZZ
@given(data=replies("neoptix"), unsolicited=st.binary(max_size=40))
def test_neoptix_reply_parsers(data, unsolicited):
    run_all(NEOPTIX_CALLS, lambda t: NeoptixReflex(t, clock=SimClock(start=0.0)), data, unsolicited)


@FUZZ
@given(data=replies("amf"))
def test_ambrell_reply_parsers(data):
    run_all(AMF_CALLS, lambda t: AmbrellEasyHeat(t, clock=SimClock(start=0.0)), data)


@FUZZ
@given(data=replies("itc"))
def test_itc4000_reply_parsers(data):
    run_all(
        ITC_CALLS,
        lambda t: ThorlabsITC4000(
            t, clock=SimClock(start=0.0), settle_timeout_s=2.0, off_timeout_s=1.0
        ),
        data,
    )


# -- loaders ---------------------------------------------------------------------------------
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=3),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


def mutated(document: dict, keep: tuple = ()):
    """A valid document with a few nodes replaced, deleted or added (not under ``keep``)."""
    paths = [p for p in _paths(document) if p and p[0] not in keep]

    def apply(edits):
        doc = copy.deepcopy(document)
        for index, action, leaf in edits:
            path = paths[index % len(paths)]
            parent = doc
            try:
                for key in path[:-1]:
                    parent = parent[key]
                if action == "delete":
                    del parent[path[-1]]
                elif action == "add" and isinstance(parent, dict):
                    parent[f"x{index}"] = leaf
                else:
                    parent[path[-1]] = leaf
            except (KeyError, IndexError, TypeError):
                continue
        return yaml.safe_dump(doc)

    edit = st.tuples(st.integers(0, 10_000), st.sampled_from(["replace", "delete", "add"]), LEAVES)
    return st.lists(edit, min_size=1, max_size=4).map(apply)


def hostile_text(document: dict):
    return st.one_of(
        st.text(max_size=300),
        mutated(document),
        st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    )


VIAL = yaml.safe_load((ROOT / "examples" / "benches" / "sim-vial.yaml").read_text())
PROTOCOL = yaml.safe_load((ROOT / "examples" / "protocols" / "sar-vial.yaml").read_text())


@FUZZ
@given(text=hostile_text(VIAL))
def test_bench_loader(text):
    with contextlib.suppress(LabctlError):
        load_bench_config(text=text)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=mutated(VIAL, keep=("sample",)))  # the sample model's own checks: not here
def test_a_bench_built_from_a_hostile_file_starts_with_outputs_off(tmp_path, text):
    try:
        config = load_bench_config(text=text)
    except LabctlError:
        return
    try:
        bench = Bench(config, data_dir=tmp_path, subscribe_writer=False)
    except LabctlError:
        return
    try:
        for name, emulator in bench.twin.emulators.items():
            assert not getattr(emulator, "heating", False), name
            assert not getattr(emulator, "emission_on", False), name
    finally:
        bench.close()


@FUZZ
@given(text=hostile_text(PROTOCOL))
def test_protocol_loader(text):
    with contextlib.suppress(LabctlError):
        load_protocol(text=text)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(seed=-1), "seed"),  # numpy refused it with a ValueError
        (lambda d: d["devices"]["laser"].update(current_limit_A=6), "current_limit_A"),
    ],
)
def test_inputs_the_fuzzer_found(tmp_path, edit, message):
    data = copy.deepcopy(VIAL)
    edit(data)
    with pytest.raises(LabctlError, match=message):
        Bench(
            load_bench_config(text=yaml.safe_dump(data)), data_dir=tmp_path, subscribe_writer=False
        )
