import pytest

from labctl.core.errors import ConfigError, TransportError
from labctl.core.transport import TrafficLog, open_transport
from labctl.simulators.instruments.base import LineEmulator
from labctl.simulators.server import EmulatorServer


class EchoUpper(LineEmulator):
    """Answers every line with its upper-case text; 'silent' gets no reply."""

    terminator = b"\n"

    def handle(self, line):
        if line == "silent":
            return None
        return line.upper() + "\n"


def test_loop_transport_query_splits_on_terminator():
    t = open_transport("loop://", timeout=0.2, log=True)
    t.write(b"one\rtwo\r")
    assert t.read_until(b"\r") == b"one\r"
    assert t.read_until(b"\r") == b"two\r"
    assert t.log.sent() == [b"one\rtwo\r"]
    t.close()


def test_timeout_error_names_address_command_and_bytes():
    t = open_transport("loop://", timeout=0.05)
    t.write(b"partial")
    with pytest.raises(TransportError) as exc:
        t.read_until(b"\r", command=b"t\r")
    msg = str(exc.value)
    assert "loop://" in msg and "b't\\r'" in msg and "b'partial'" in msg and "0.05" in msg


def test_sim_transport_reaches_registered_emulator_and_fails_fast_on_silence():
    emu = EchoUpper(name="echo")
    t = open_transport("sim://echo", sims={"echo": emu}, timeout=5.0)
    assert t.query(b"idn?\n", b"\n") == b"IDN?\n"
    with pytest.raises(TransportError, match="sim://echo"):
        t.query(b"silent\n", b"\n")


def test_unknown_sim_and_scheme_are_config_errors():
    with pytest.raises(ConfigError, match="known: echo"):
        open_transport("sim://nope", sims={"echo": EchoUpper()})
    with pytest.raises(ConfigError, match="scheme"):
        open_transport("gpib://1")
    with pytest.raises(ConfigError, match="no scheme"):
        open_transport("/dev/ttyUSB0")
    with pytest.raises(ConfigError, match="unknown serial option"):
        open_transport("serial:///dev/null?baud=9600")


def test_missing_serial_port_is_transport_error():
    with pytest.raises(TransportError, match="cannot open serial:///dev/does-not-exist"):
        open_transport("serial:///dev/does-not-exist?baudrate=9600")


def test_closed_transport_refuses_io():
    t = open_transport("loop://")
    t.close()
    with pytest.raises(TransportError, match="closed"):
        t.write(b"x")


@pytest.fixture
def served_echo():
    server = EmulatorServer(
        {"ser": (EchoUpper(name="ser"), "serial"), "scpi": (EchoUpper(name="scpi"), "scpi")}
    ).start()
    yield server.addresses()
    server.stop()


def test_socket_url_through_real_pyserial(served_echo):
    address = served_echo["ser"]
    assert address.startswith("socket://127.0.0.1:")
    with open_transport(address, timeout=2.0) as t:
        for i in range(50):
            assert t.query(f"q{i}\n".encode(), b"\n") == f"Q{i}\n".encode()


def test_visa_socket_resource_through_real_pyvisa(served_echo):
    resource = served_echo["scpi"]
    assert resource.startswith("TCPIP0::127.0.0.1::") and resource.endswith("::SOCKET")
    log = TrafficLog()
    with open_transport("visa://" + resource, timeout=2.0, log=log) as t:
        assert t.query(b"*idn?\n", b"\n") == b"*IDN?\n"
    assert log.sent() == [b"*idn?\n"]
    assert log.received() == b"*IDN?\n"
