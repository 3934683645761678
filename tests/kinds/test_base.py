"""Bench entries validate as their kind plus their driver's options."""

import pytest

from labctl.config.bench_file import load_bench_config
from labctl.core.errors import ConfigError

BENCH = """\
name: t
mode: sim
sample: {kind: vial}
devices:
  thermo:
    kind: thermometer
    driver: DRIVER
    channels: {1: sample}
    EXTRA
"""


def _load(driver="neoptix_reflex", extra=""):
    return load_bench_config(text=BENCH.replace("DRIVER", driver).replace("EXTRA", extra))


def test_driver_options_are_validated_and_kept_apart_from_the_kinds_keys():
    entry = _load(extra="model_channels: 2").devices["thermo"]
    assert entry.driver_options == {"model_channels": 2}
    assert entry.channels == {1: "sample"}


def test_an_unknown_key_is_named_with_its_line():
    with pytest.raises(ConfigError, match=r"line 9, key devices\.thermo\.colour: unknown key"):
        _load(extra="colour: blue")


def test_a_bad_driver_option_is_named():
    with pytest.raises(ConfigError, match=r"devices\.thermo\.model_channels"):
        _load(extra="model_channels: 3")


def test_a_driver_of_another_kind_is_refused():
    with pytest.raises(ConfigError, match="drives a amf, not a thermometer"):
        _load(driver="ambrell_easyheat")


def test_a_driver_checks_the_whole_entry():
    with pytest.raises(ConfigError, match="channel index 1 is not 1-1|channel index 3 is not"):
        load_bench_config(
            text=BENCH.replace("DRIVER", "neoptix_reflex")
            .replace("{1: sample}", "{3: sample}")
            .replace("EXTRA", "model_channels: 1")
        )


def test_a_driver_by_import_path_works_in_a_bench_file():
    entry = _load(driver="labctl.devices.drivers.neoptix_reflex:NeoptixReflex").devices["thermo"]
    assert entry.driver_cls.__name__ == "NeoptixReflex"
