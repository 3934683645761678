"""Drivers, emulators and kinds are found through entry points or import paths."""

import pytest

from labctl.core.errors import ConfigError
from labctl.devices.drivers.neoptix_reflex import NeoptixReflex
from labctl.kinds import all_kinds, get_kind
from labctl.kinds.plugins import (
    DRIVERS_GROUP,
    EMULATORS_GROUP,
    driver_class,
    emulator_class,
    load_object,
    registered,
)
from labctl.simulators.instruments.neoptix_reflex import NeoptixReflexEmulator


def test_labctl_registers_its_own_drivers_emulators_and_kinds():
    assert {"neoptix_reflex", "ambrell_easyheat", "thorlabs_itc4000", "pylablib"} <= set(
        registered(DRIVERS_GROUP)
    )
    assert {"neoptix_reflex", "ambrell_easyheat", "thorlabs_itc4000"} <= set(
        registered(EMULATORS_GROUP)
    )
    assert set(all_kinds()) >= {"thermometer", "amf", "laser", "optoacoustic", "fluorescence"}


def test_a_driver_by_name_and_by_import_path_is_the_same_class():
    by_name = driver_class("neoptix_reflex")
    by_path = driver_class("labctl.devices.drivers.neoptix_reflex:NeoptixReflex")
    assert by_name is by_path is NeoptixReflex
    assert emulator_class(by_name, "neoptix_reflex") is NeoptixReflexEmulator


def test_unknown_driver_names_the_registered_ones():
    with pytest.raises(ConfigError, match=r"unknown driver 'nope' \(registered: .*neoptix_reflex"):
        driver_class("nope")


def test_a_class_without_the_plugin_attributes_is_refused():
    with pytest.raises(ConfigError, match="lacks the class attribute"):
        driver_class("labctl.core.transport:Transport")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_colon", "not an import path"),
        ("labctl.no_such_module:X", "cannot import"),
        ("labctl.core.errors:NoSuchName", "has no 'NoSuchName'"),
    ],
)
def test_bad_import_paths_say_what_is_wrong(path, message):
    with pytest.raises(ConfigError, match=message):
        load_object(path)


def test_unknown_kind_lists_the_known():
    with pytest.raises(ConfigError, match="unknown kind 'oscilloscope'"):
        get_kind("oscilloscope")


def test_every_registered_driver_declares_a_known_kind_and_a_loadable_emulator():
    kinds = all_kinds()
    for name in registered(DRIVERS_GROUP):
        cls = driver_class(name)
        assert cls.kind in kinds, (name, cls.kind)
        emulator_class(cls, name)  # raises if it does not load
