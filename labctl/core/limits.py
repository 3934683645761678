"""Bench safety limits and the checks that refuse a setpoint before any byte is sent.

Field-frequency product limits (PHYSICS.md section 1):

- Hergt & Dutz (2007), small treated regions: H*f <= 5e9 A m^-1 s^-1 (the default);
- Atkinson & Brezovich (1984), whole body: H*f <= 4.85e8 A m^-1 s^-1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from labctl.core.errors import LimitError

__all__ = ["HF_HERGT_DUTZ", "HF_BREZOVICH", "BenchLimits", "skin_mpe_W_cm2"]

HF_HERGT_DUTZ = 5.0e9  #: A m^-1 s^-1
HF_BREZOVICH = 4.85e8  #: A m^-1 s^-1


@dataclass(frozen=True)
class BenchLimits:
    """What a bench may do to a sample.  ``None`` means no limit of that kind.

    Units: A/m/s (``hf_max``), kA/m, A, W, W/cm^2, C, s.
    """

    hf_max: float = HF_HERGT_DUTZ
    field_max_kA_m: float = 20.0
    amf_current_max_A: float | None = None
    laser_power_max_W: float | None = None
    irradiance_max_W_cm2: float = 2.0
    temperature_max_C: dict[str, float] = field(default_factory=dict)
    max_energized_s: float | None = None

    def __post_init__(self) -> None:
        """Every limit is a finite number (a NaN limit compares false: no limit at all)."""
        named = {
            "hf_max": self.hf_max,
            "field_max_kA_m": self.field_max_kA_m,
            "amf_current_max_A": self.amf_current_max_A,
            "laser_power_max_W": self.laser_power_max_W,
            "irradiance_max_W_cm2": self.irradiance_max_W_cm2,
            "max_energized_s": self.max_energized_s,
        }
        named.update({f"temperature_max_C.{r}": v for r, v in self.temperature_max_C.items()})
        for key, value in named.items():
            if value is not None:
                _finite(value, f"limits.{key}")

    def check_amf(self, frequency_Hz: float, field_kA_m: float, where: str = "AMF") -> None:
        """Raise ``LimitError`` unless the field amplitude and H*f product are allowed."""
        _finite(frequency_Hz, f"{where} frequency (Hz)")
        _finite(field_kA_m, f"{where} field (kA/m)")
        if field_kA_m < 0:
            raise LimitError(f"{where}: field {field_kA_m:g} kA/m is negative")
        if field_kA_m > self.field_max_kA_m:
            raise LimitError(
                f"{where}: field {field_kA_m:g} kA/m exceeds the bench limit "
                f"{self.field_max_kA_m:g} kA/m; nothing was sent"
            )
        hf = field_kA_m * 1e3 * frequency_Hz
        if hf > self.hf_max:
            raise LimitError(
                f"{where}: H*f = {field_kA_m:g} kA/m x {frequency_Hz / 1e3:g} kHz = "
                f"{hf:.3g} A/(m s) exceeds the bench limit {self.hf_max:.3g} A/(m s); "
                "nothing was sent"
            )

    def max_field_kA_m(self, frequency_Hz: float) -> float:
        """Largest field amplitude allowed at ``frequency_Hz`` (kA/m)."""
        if frequency_Hz <= 0:
            return self.field_max_kA_m
        return min(self.field_max_kA_m, self.hf_max / frequency_Hz / 1e3)

    def check_amf_current(self, current_A: float, where: str = "AMF") -> None:
        _finite(current_A, f"{where} current (A)")
        if current_A < 0:
            raise LimitError(f"{where}: current {current_A:g} A is negative")
        if self.amf_current_max_A is not None and current_A > self.amf_current_max_A:
            raise LimitError(
                f"{where}: current {current_A:g} A exceeds the bench limit "
                f"{self.amf_current_max_A:g} A; nothing was sent"
            )

    def check_laser(self, power_W: float, spot_area_cm2: float, where: str = "laser") -> None:
        """Raise ``LimitError`` unless the optical power and irradiance are allowed."""
        _finite(power_W, f"{where} power (W)")
        if power_W < 0:
            raise LimitError(f"{where}: power {power_W:g} W is negative")
        if self.laser_power_max_W is not None and power_W > self.laser_power_max_W:
            raise LimitError(
                f"{where}: power {power_W:g} W exceeds the bench limit "
                f"{self.laser_power_max_W:g} W; nothing was sent"
            )
        irradiance = power_W / spot_area_cm2
        if irradiance > self.irradiance_max_W_cm2:
            raise LimitError(
                f"{where}: irradiance {irradiance:.3g} W/cm^2 ({power_W:g} W on "
                f"{spot_area_cm2:.3g} cm^2) exceeds the bench limit "
                f"{self.irradiance_max_W_cm2:g} W/cm^2; nothing was sent"
            )

    def max_laser_power_W(self, spot_area_cm2: float) -> float:
        """Largest optical power allowed on a spot of ``spot_area_cm2``."""
        p = self.irradiance_max_W_cm2 * spot_area_cm2
        return p if self.laser_power_max_W is None else min(p, self.laser_power_max_W)

    def check_temperature(self, role: str, value_C: float) -> None:
        """Raise ``LimitError`` if a target/reading for ``role`` exceeds its maximum."""
        limit = self.temperature_max_C.get(role)
        if limit is not None and value_C > limit:
            raise LimitError(
                f"temperature {value_C:g} C for {role!r} exceeds the bench limit {limit:g} C"
            )


def skin_mpe_W_cm2(wavelength_nm: float) -> float:
    """ANSI Z136.1 skin maximum permissible exposure for exposures > 10 s, W/cm^2.

    ``MPE = 0.2 C_A``; ``C_A = 10^(0.002 (lambda - 700))`` for 700-1050 nm, 5 for
    1050-1400 nm, 1 for 400-700 nm.
    """
    if 400 <= wavelength_nm < 700:
        ca = 1.0
    elif 700 <= wavelength_nm < 1050:
        ca = 10 ** (0.002 * (wavelength_nm - 700))
    elif 1050 <= wavelength_nm <= 1400:
        ca = 5.0
    else:
        raise LimitError(f"no skin MPE tabulated for {wavelength_nm:g} nm (400-1400 nm)")
    return 0.2 * ca


def _finite(value: float, what: str) -> None:
    try:
        ok = math.isfinite(float(value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise LimitError(f"{what} must be a finite number, not {value!r}")
