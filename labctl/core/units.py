"""Quantities typed by users: ``8 kA/m``, ``230 kHz``, ``43 degC``, ``1 W/cm^2``.

Bench and protocol files accept a plain number (in the unit the key names) or a string
with its unit, which pint converts; a wrong dimension is a clear error.  Non-finite
numbers are refused everywhere.

>>> to_unit("230 kHz", "Hz")
230000.0
>>> to_unit(43, "degC")
43.0
"""

from __future__ import annotations

import math
from functools import cache
from typing import Annotated, Any

import pint
from pydantic import BeforeValidator, Field

__all__ = ["to_unit", "Quantity", "ureg"]

ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


@cache
def _unit(unit: str) -> pint.Unit:
    return ureg.Unit(unit)


def to_unit(value: Any, unit: str) -> float:
    """``value`` (a number already in ``unit``, or a string such as ``"8 kA/m"``) as a
    finite float in ``unit``; ``ValueError`` names what was wrong."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number in {unit}, not {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            q = ureg.Quantity(value.strip())
        except (pint.errors.PintError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{value!r} is not a quantity ({exc})") from None
        if isinstance(q, int | float) or q.dimensionless and _unit(unit).dimensionless:
            number = float(getattr(q, "magnitude", q))
        else:
            try:
                number = float(q.to(_unit(unit)).magnitude)
            except pint.errors.DimensionalityError:
                raise ValueError(
                    f"{value!r} has dimension {q.dimensionality}, not that of {unit} "
                    f"({_unit(unit).dimensionality})"
                ) from None
    else:
        raise ValueError(f"expected a number in {unit} or a quantity string, not {value!r}")
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def Quantity(unit: str, **constraints):  # noqa: N802 - reads as a type in a model
    """A pydantic field type: a finite float in ``unit``, typed as a number or a quantity
    string; ``constraints`` are pydantic's (``gt=0``, ``le=2000``...), in ``unit``."""
    return Annotated[float, BeforeValidator(lambda v: to_unit(v, unit)), Field(**constraints)]
