from pathlib import Path

import pytest

from labctl.config.bench_file import load_bench_config
from labctl.core.errors import ConfigError
from labctl.core.limits import HF_BREZOVICH

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "benches"

GOOD = """\
name: t
mode: sim
sample: {kind: vial}
limits: {hf_max: brezovich, temperature_max_C: {sample: 70}}
devices:
  thermo:
    kind: thermometer
    channels: {1: sample}
  amf:
    kind: amf
    address: serial:///dev/ttyUSB1?baudrate=9600
    coil_calibration: {230000: 0.04}
"""


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_benches_validate(path, request):
    if "osensa_ftx" in path.read_text():  # a driver of the example plugin package
        request.getfixturevalue("osensa_plugin")
    config = load_bench_config(path)
    assert {"thermo", "amf", "laser"} <= set(config.devices)


def test_sim_mode_replaces_addresses_and_limits_resolve():
    config = load_bench_config(text=GOOD)
    assert config.address_of("amf") == "sim://amf"
    assert config.address_of("thermo") == "sim://thermo"
    limits = config.limits.to_limits()
    assert limits.hf_max == HF_BREZOVICH
    assert limits.temperature_max_C == {"sample": 70}


def test_real_mode_needs_addresses():
    config = load_bench_config(text=GOOD, overrides={"mode": "real"})
    assert config.address_of("amf").startswith("serial://")
    with pytest.raises(ConfigError, match="'thermo' has no address"):
        config.address_of("thermo")


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            ("    channels: {1: sample}", "    channels: {1: sample}\n    chanels: 2"),
            r"line 9, key devices\.thermo\.chanels: unknown key",
        ),
        (("mode: sim", "mode: simulated"), r"line 2, key mode: Input should be 'real' or 'sim'"),
        (
            ("{230000: 0.04}", "{230000: -0.04}"),
            r"key devices\.amf\.coil_calibration\.230000: Input should be greater than 0",
        ),
        (("kind: amf", "kind: coil"), r"key devices\.amf: 'kind' must be one of: amf, "),
        (("{1: sample}", "{1: sample, 2: sample}"), r"channel roles must be unique"),
        (("{1: sample}", "{7: sample}"), r"channel index 7 is not 1-4"),
        (("serial:///dev/ttyUSB1?baudrate=9600", "COM3"), r"address 'COM3' has no scheme"),
        (("name: t\n", ""), r"key name: Field required"),
        (("hf_max: brezovich", "hf_max: strict"), r"key limits\.hf_max"),
    ],
)
def test_bad_bench_files_name_line_and_key(edit, message):
    old, new = edit
    assert old in GOOD
    with pytest.raises(ConfigError, match=message):
        load_bench_config(text=GOOD.replace(old, new, 1))


def test_yaml_syntax_errors_and_duplicates_name_the_line(tmp_path):
    bad = tmp_path / "bench.yaml"
    bad.write_text("name: x\ndevices: {a: [1, 2}\n")
    with pytest.raises(ConfigError, match=r"bench\.yaml, line 2: not valid YAML"):
        load_bench_config(bad)
    dup = tmp_path / "dup.yaml"
    dup.write_text("name: x\nname: y\ndevices: {}\n")
    with pytest.raises(ConfigError, match=r"line 2: key 'name' appears twice"):
        load_bench_config(dup)
    with pytest.raises(ConfigError, match="file not found"):
        load_bench_config(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_bench_config(empty)
