"""Finite number types for bench and protocol files (pydantic).

A plain pydantic ``float`` accepts ``.nan`` and ``.inf`` from YAML, and a NaN limit
compares false with everything, so it silently disables a check.  Every limit, period,
clock, fault, geometry and setpoint field uses one of these instead:

- :data:`Finite`: any finite number; :data:`FinitePositive`: finite and > 0;
  :data:`FiniteNonNegative`: finite and >= 0; :data:`Fraction`: finite in [0, 1].
- Physical ranges, where a value beyond them can only be a mistake:
  :data:`Temperature_C` (-50..200 C), :data:`Duration_s` (0 < s <= 30 days),
  :data:`Period_s` (0 < s <= 1 h), :data:`Frequency_Hz` (0 < Hz <= 100 MHz),
  :data:`Field_kA_m` (0 < kA/m <= 1000), :data:`Current_A` (0 < A <= 10 kA),
  :data:`Power_W` (0 < W <= 100 kW), :data:`Irradiance_W_cm2` (0 < W/cm^2 <= 1000),
  :data:`Length_mm` (0 < mm <= 1 m), :data:`Speed` (0 < x <= 1e6 virtual s per s),
  :data:`HF_A_m_s` (0 < H*f <= 1e11 A m^-1 s^-1), :data:`Periods` (1..1000).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AllowInfNan, Field

__all__ = [
    "Finite",
    "FinitePositive",
    "FiniteNonNegative",
    "Fraction",
    "Temperature_C",
    "Duration_s",
    "Period_s",
    "Frequency_Hz",
    "Field_kA_m",
    "Current_A",
    "Power_W",
    "Irradiance_W_cm2",
    "Length_mm",
    "Speed",
    "Periods",
    "HF_A_m_s",
]

_NO_NAN = AllowInfNan(False)

Finite = Annotated[float, _NO_NAN]
FinitePositive = Annotated[float, _NO_NAN, Field(gt=0)]
FiniteNonNegative = Annotated[float, _NO_NAN, Field(ge=0)]
Fraction = Annotated[float, _NO_NAN, Field(ge=0, le=1)]

Temperature_C = Annotated[float, _NO_NAN, Field(ge=-50, le=200)]
Duration_s = Annotated[float, _NO_NAN, Field(gt=0, le=30 * 86400)]
Period_s = Annotated[float, _NO_NAN, Field(gt=0, le=3600)]
Frequency_Hz = Annotated[float, _NO_NAN, Field(gt=0, le=100e6)]
Field_kA_m = Annotated[float, _NO_NAN, Field(gt=0, le=1000)]
Current_A = Annotated[float, _NO_NAN, Field(gt=0, le=10e3)]
Power_W = Annotated[float, _NO_NAN, Field(gt=0, le=100e3)]
Irradiance_W_cm2 = Annotated[float, _NO_NAN, Field(gt=0, le=1000)]
Length_mm = Annotated[float, _NO_NAN, Field(gt=0, le=1000)]
#: the AMF field-frequency product cap, A m^-1 s^-1 (the usual criteria: 4.85e8, 5e9)
HF_A_m_s = Annotated[float, _NO_NAN, Field(gt=0, le=1e11)]
Speed = Annotated[float, _NO_NAN, Field(gt=0, le=1e6)]
#: a count of periods (the monitor's staleness): at least 1, at most 1000
Periods = Annotated[float, _NO_NAN, Field(ge=1, le=1000)]
