"""Meta-tests over everything registered: every driver's public methods are in its
conversation tests, every device signal's getter and setter resolve on every driver of
its kind, and every plan documents each numeric argument with its unit."""

import ast
import inspect
import re
import typing
from pathlib import Path

import pytest

from labctl import plans
from labctl.devices.signals import DriverSignalRO
from labctl.kinds import all_kinds
from labctl.kinds.plugins import DRIVERS_GROUP, driver_class, registered

TESTS = Path(__file__).resolve().parent
#: labctl's own wired drivers (a plugin package's conversation tests live in that
#: package: examples/plugin's run in tests/test_plugin_example.py)
WIRED = sorted(
    n
    for n in registered(DRIVERS_GROUP)
    if driver_class(n).wire != "none" and driver_class(n).__module__.startswith("labctl.")
)
#: a unit after a parameter's name in a docstring: (s), C, W, kA/m, Hz, nm, mm, ...
UNIT = re.compile(
    r"\b(s|C|K|W|mW|J|Hz|kHz|nm|mm|cm|m|A|kA/m|W/cm\^2|mW/cm\^2|C/s|C/min|min|h|"
    r"mg|mL|kg|%|px|pixels|fraction|1/s|W/K|J/K|dimensionless|per \w+)\b"
)


def _called_attributes(path: Path) -> set[str]:
    """Names a test module calls: attributes, and method names its tables give as text
    (``getattr(driver, name)(...)``)."""
    tree = ast.parse(path.read_text())
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return names | {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


@pytest.mark.parametrize("name", WIRED)
def test_every_public_driver_method_is_in_its_conversation_tests(name):
    cls = driver_class(name)
    module = cls.__module__.rsplit(".", 1)[-1]
    tests = TESTS / "devices" / "drivers" / f"test_{module}.py"
    assert tests.exists(), f"driver {name}: no conversation tests at {tests}"
    called = _called_attributes(tests)
    public = [
        m
        for m, v in vars(cls).items()
        if not m.startswith("_")
        and callable(v)
        and not isinstance(v, type)
        and m not in ("from_bench", "check_entry")
    ]
    missing = [m for m in public if m not in called]
    assert not missing, f"driver {name}: no conversation test calls {missing}"


def _driver_names(signal_cpt) -> list[str]:
    kw = signal_cpt.kwargs
    return [kw[k] for k in ("getter", "setter") if isinstance(kw.get(k), str)]


@pytest.mark.parametrize("kind_name", sorted(all_kinds()))
def test_device_signals_resolve_on_every_driver_of_their_kind(kind_name):
    kind = all_kinds()[kind_name]
    device_cls = kind.device_class()
    drivers = [driver_class(n) for n in registered(DRIVERS_GROUP)]
    drivers = [d for d in drivers if d.kind == kind_name]
    assert drivers, f"kind {kind_name} has no registered driver"
    for attr, cpt in device_cls._sig_attrs.items():
        if not issubclass(cpt.cls, DriverSignalRO):
            continue
        for method in _driver_names(cpt):
            if method.startswith("self."):
                assert hasattr(device_cls, method[5:]), f"{device_cls.__name__}.{method}"
                continue
            for drv in drivers:
                assert hasattr(drv, method), (
                    f"{device_cls.__name__}.{attr} calls {method}, which driver "
                    f"{drv.__name__} lacks"
                )


@pytest.mark.parametrize("name", plans.__all__)
def test_every_numeric_plan_argument_is_documented_with_its_unit(name):
    fn = getattr(plans, name)
    doc = inspect.getdoc(fn) or ""
    hints = typing.get_type_hints(fn)
    numeric = [p for p, h in hints.items() if h in (float, float | None, int, int | None)]
    undocumented = []
    for p in numeric:
        lines = [line for line in doc.splitlines() if re.search(rf"\b{p}\b", line)]
        if not any(UNIT.search(line.split(p, 1)[1]) for line in lines):
            undocumented.append(p)
    assert not undocumented, f"{name}: no unit documented for {undocumented}"
