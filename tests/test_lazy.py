"""Package attributes imported on first use."""

import subprocess
import sys

import pytest

from labctl._lazy import lazy_exports


def test_names_are_imported_on_first_use_and_stay():
    code = (
        "import sys, labctl.data as d\n"
        "assert 'labctl.data.recover' not in sys.modules\n"
        "f = d.recover\n"
        "assert 'labctl.data.recover' in sys.modules and d.__dict__['recover'] is f\n"
        "assert 'RunWriter' in dir(d)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_names_are_attribute_errors():
    get, names = lazy_exports("labctl", {"x": "labctl.core.errors"})
    with pytest.raises(AttributeError, match="'labctl' has no attribute 'nope'"):
        get("nope")
    assert "x" in names()
