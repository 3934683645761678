"""A plan step gets its devices by explicit mapping or by the type its plan asks for."""

from types import SimpleNamespace

import pytest

from labctl.core.errors import ConfigError
from labctl.devices.amf import AMFGenerator
from labctl.devices.temperature_map import TemperatureMap
from labctl.devices.thermometer import FiberOpticThermometer
from labctl.plans import magnetic_hyperthermia, oa_thermometry_calibration
from labctl.protocol.devices import device_parameters, resolve_devices


class _ThermoType(FiberOpticThermometer):
    pass


class _AMFType(AMFGenerator):
    pass


def _Thermo():  # a stand-in of the right type, never connected
    return object.__new__(_ThermoType)


def _AMF():
    return object.__new__(_AMFType)


def _bench(**devices):
    return SimpleNamespace(name="b", devices=devices)


def test_device_parameters_come_from_the_plan_annotations():
    assert device_parameters(magnetic_hyperthermia) == {
        "amf": (AMFGenerator, False),
        "thermo": (FiberOpticThermometer, False),
        "tumor_map": (TemperatureMap, True),
    }
    assert device_parameters(oa_thermometry_calibration)["amf"] == (AMFGenerator, True)


def test_the_one_device_of_a_type_is_found_whatever_its_name():
    coil, probe = _AMF(), _Thermo()
    chosen = resolve_devices(magnetic_hyperthermia, {}, _bench(coil2=coil, fo=probe), "here")
    assert chosen == {"amf": coil, "thermo": probe}


def test_several_devices_of_a_type_need_a_mapping():
    bench = _bench(a=_AMF(), b=_AMF(), fo=_Thermo())
    with pytest.raises(ConfigError, match=r"several AMFGenerator devices \(a, b\)"):
        resolve_devices(magnetic_hyperthermia, {}, bench, "here")
    assert (
        resolve_devices(magnetic_hyperthermia, {"amf": "b"}, bench, "here")["amf"]
        is (bench.devices["b"])
    )


def test_a_mapping_to_a_device_of_the_wrong_type_is_refused():
    bench = _bench(a=_AMF(), fo=_Thermo())
    with pytest.raises(ConfigError, match="'fo' is a _ThermoType, the plan needs a AMFGenerator"):
        resolve_devices(magnetic_hyperthermia, {"amf": "fo"}, bench, "here")


def test_a_missing_device_is_named():
    with pytest.raises(ConfigError, match=r"needs a AMFGenerator \(amf\)"):
        resolve_devices(magnetic_hyperthermia, {}, _bench(fo=_Thermo()), "here")
