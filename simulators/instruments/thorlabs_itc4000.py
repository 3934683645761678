"""Emulator of a Thorlabs ITC4000-series laser diode + TEC controller (SCPI, ``\\n``).

Bytes in, bytes out through the :mod:`labctl.simulators.instruments.scpi` command
tree, driving the simulated world's laser input.  Commands (short or long form,
case-insensitive, ``MIN``/``MAX``/``DEF`` where numeric):

=========================================================  ==================================
``SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]``       LD current setpoint, A (``?``)
``SOURce[1]:CURRent:LIMit[:AMPLitude]``                     LD current limit, A (``?``)
``SOURce[1]:POWer[:LEVel][:IMMediate][:AMPLitude]``         power setpoint (``POW`` mode), W
``SOURce[1]:FUNCtion[:SHAPe]:MODE CURRent|POWer``           constant current / constant power
``OUTPut[1][:STATe] ON|OFF|1|0``                            LD output (``?``)
``OUTPut2[:STATe]``                                         TEC output (``?``)
``SOURce2:TEMPerature[:SPOint]``                            TEC setpoint, C (``?``)
``MEASure[:SCALar]:CURRent[1][:DC]?``                       LD current, A
``MEASure[:SCALar]:TEMPerature?``, ``SENSe2:TEMPerature:DATA?``  TEC temperature, C
``MEASure[:SCALar]:POWer2?``                                monitor photodiode power, W
``OUTPut[1]:PROTection:INTLock|KEYLock|OTEMp:TRIPped?``     protection trips, 0/1
``SOURce2:FUNCtion[:MODE] TEMPerature|CURRent``              TEC control mode (``?``)
``SOURce[1]:TEMPerature[:SPOint]``                          the TEC setpoint (as ``SOUR2:TEMP``)
``OUTPut[1]:DELay``                                         LD on delay, s (``?``)
``*SAV <n>``, ``*RCL <n>``                                  save / recall settings, n = 0-9
``MEASure[:SCALar]:VOLTage[1][:DC]?``                       LD voltage, V
``SOURce[1]:FUNCtion:SHAPe DC|PULSe``                       CW or QCW (pulsed) output (``?``)
``SOURce[1]:PULSe:PERiod|WIDTh``                            QCW period and pulse width, s
``SOURce[1]:PULSe:HOLD WIDTh|DCYCle``                       what a period change keeps
``TRIGger:SOURce INTernal|EXTernal``                        QCW pulse trigger (``?``)
``OUTPut[1]:PROTection:EXTernal[:TYPE] PROTection|...``     external protection input (``?``)
=========================================================  ==================================

Sources: Thorlabs' PyVISA example (long-form lower-case ``source:current:level:
amplitude``), photonmover's ITC4001 driver (``SOUR:PULS:PER``/``WIDT``, ``TRIG:SOUR
INT``, ``*SAV``/``*RCL``, ``MEAS:POW2?``), Openwater's ITC4001/ITC4020 script
(``SOUR2:FUNC TEMP``, ``SOUR2:TEMP``, ``OUTP:DEL``, ``SOUR:FUNC:SHAP PULS``, ``TRIG:SOUR
EXT``, ``SOUR:PULS:HOLD WIDT``, ``OUTP:PROT:EXT PROT``), the qtlab driver and
FlowCellPicoscope's (``SOUR:TEMP``, ``MEAS:VOLT?``).

Behaviour (choices where the manual is not at hand are marked *model*):

- LD on is refused with ``-221,"Settings conflict;<reason>"`` (*model*: the real
  instrument's device-specific code is unknown) while the interlock is open, the
  keylock is off, the controller is over-temperature, the TEC is off, or the TEC
  temperature is more than ``tec_window_C`` from its setpoint; the state stays 0.
- TEC: first-order response in virtual time, ``T -> T_set`` with ``tec_tau_s`` when
  on, ``T -> ambient_C`` with ``passive_tau_s`` when off (*model*).  Switching the TEC
  off (or ``*RST``) while lasing switches the LD off first.
- Protection: opening the interlock, switching the keylock off or an over-temperature
  while lasing switches the LD off and latches the matching ``...:TRIPped?`` query at
  1.  A trip query reads 1 while its condition persists *or* its latch is set.
  Latches clear on ``*CLS`` and on the next successful LD on (*model*).
- A current setpoint above ``SOUR:CURR:LIM`` is rejected with -222 (not clamped) and
  the setpoint is unchanged; lowering the limit below the setpoint lowers the
  setpoint to the limit (*model*).  The mode cannot change while the LD is on (-221).
- Optical power: ``P = slope_W_per_A * (I - threshold_A)`` above threshold, else 0
  (linear P-I curve of a laser diode above threshold, e.g. Coldren, Corzine &
  Mashanovitch, *Diode Lasers and Photonic Integrated Circuits*, 2nd ed., ch. 2).
  The monitor photodiode is calibrated to read that power.  Every change of the
  optical output calls ``world.set_laser(P, wavelength_nm, spot_area_cm2)``; off is 0 W.
- Replies: numbers in NR3 (``1.500000E+00``), booleans ``0``/``1``, mode ``CURR``/``POW``
  (*model*); error queue of ``queue_size`` entries (*model*: 30).
- QCW (``SOUR:FUNC:SHAP PULS``): the sample model gets the average optical power,
  ``P * width / period`` with the internal trigger; with ``TRIG:SOUR EXT`` the pulses
  follow an external trigger at ``external_trigger_Hz`` (*model*: 0, no trigger wired,
  no light); ``MEAS:POW2?`` reads that average (*model*).  Ranges (*model*): period
  1e-4-10 s, width 1e-5 s to the period.  ``HOLD WIDT`` keeps the width when the period
  changes, ``HOLD DCYC`` the duty cycle.
- ``OUTP:DEL`` (*model*: 0-10 s, default 0): light starts that long after LD on.
- ``MEAS:VOLT?`` (*model*): ``V = E_photon / q + R_s * I`` while current flows (the
  junction voltage of a lasing diode clamps near the photon energy, ``hc / lambda``),
  0 when off; ``series_resistance_ohm`` option.
- ``SOUR2:FUNC CURR`` (*model*): the TEC no longer regulates the temperature, which
  relaxes to ambient; LD on then needs the mount to be within the window all the same.
- ``*SAV``/``*RCL`` (*model*: registers 0-9, each holding the ``*RST`` state until
  saved): every setting listed above except the output states; ``*RCL`` while the LD
  is on is refused with -221.
- ``OUTP:PROT:EXT`` is stored and read back; the external protection input itself is
  not modelled.
"""

from __future__ import annotations

import math

from labctl.core.errors import ConfigError
from labctl.simulators.instruments.base import LineEmulator
from labctl.simulators.instruments.scpi import (
    Call,
    CommandTree,
    SCPIError,
    boolean,
    choice,
    format_bool,
    format_number,
    number,
)
from labctl.simulators.physics.world import SimWorld

__all__ = ["ITC4000Emulator"]

_AMPS = ("A",)
_CELSIUS = ("C", "CEL")
_WATTS = ("W",)
_SECONDS = ("S",)
_SAVED = (
    "mode",
    "current_setpoint_A",
    "current_limit_A",
    "power_setpoint_W",
    "tec_setpoint_C",
    "tec_mode",
    "on_delay_s",
    "shape",
    "pulse_period_s",
    "pulse_width_s",
    "pulse_hold",
    "trigger_source",
    "external_protection",
)
_REGISTERS = 10
_HC_EV_NM = 1239.84198  #: h c / q, eV nm


class ITC4000Emulator(LineEmulator):
    """Thorlabs ITC4001-style controller driving a PTT laser into ``world``.

    Units: nm, mm, W/A, A, C, s.  Fault entry points: :meth:`set_interlock`,
    :meth:`set_keylock`, :meth:`set_overtemperature`.
    """

    terminator = b"\n"

    def __init__(
        self,
        world: SimWorld | None,
        *,
        name: str,
        wavelength_nm: float = 808.0,
        spot_diameter_mm: float = 8.0,
        slope_W_per_A: float = 1.0,
        threshold_A: float = 0.5,
        current_limit_A: float = 4.0,
        serial: str = "M00412345",
        model: str = "ITC4001",
        firmware: str = "1.8.0/1.5.0/2.3.0",
        current_rating_A: float = 5.0,
        tec_setpoint_C: float = 25.0,
        ambient_C: float = 22.0,
        tec_tau_s: float = 2.0,
        passive_tau_s: float = 30.0,
        tec_window_C: float = 1.0,
        tec_range_C: tuple[float, float] = (5.0, 45.0),
        tec_noise_C: float = 0.002,
        queue_size: int = 30,
        series_resistance_ohm: float = 0.15,
        external_trigger_Hz: float = 0.0,
    ) -> None:
        super().__init__(world, name=name)
        if not 0 < current_limit_A <= current_rating_A:
            raise ConfigError(f"{name}: current_limit_A must be in (0, {current_rating_A}] A")
        self.wavelength_nm = float(wavelength_nm)
        self.spot_diameter_mm = float(spot_diameter_mm)
        self.spot_area_cm2 = math.pi * (spot_diameter_mm / 10.0 / 2.0) ** 2
        self.slope_W_per_A = float(slope_W_per_A)
        self.threshold_A = float(threshold_A)
        self.current_rating_A = float(current_rating_A)
        self.ambient_C = float(ambient_C)
        self.tec_tau_s = float(tec_tau_s)
        self.passive_tau_s = float(passive_tau_s)
        self.tec_window_C = float(tec_window_C)
        self.tec_range_C = (float(tec_range_C[0]), float(tec_range_C[1]))
        self.tec_noise_C = float(tec_noise_C)
        self.series_resistance_ohm = float(series_resistance_ohm)
        self.external_trigger_Hz = float(external_trigger_Hz)
        self._light_at = -math.inf  #: clock time light starts (LD on + OUTP:DEL)
        self._delay_task = None
        self._defaults = {"limit": float(current_limit_A), "tec_set": float(tec_setpoint_C)}
        self.interlock_closed = True
        self.keylock_on = True
        self.overtemperature = False
        self._tec_T = self.ambient_C
        self._t_last = self.now()
        self._sent_power_W: float | None = None
        self._reset_state()
        self._registers = [self._settings() for _ in range(_REGISTERS)]
        self._latched = {"interlock": False, "keylock": False, "overtemperature": False}
        self.scpi = CommandTree(
            idn=f"Thorlabs,{model},{serial},{firmware}",
            on_reset=self._on_reset,
            on_clear=self._on_clear,
            queue_size=queue_size,
        )
        self._build_tree()
        self._output_changed()  # the world starts with this laser off

    # -- state ------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.ld_on = False
        self.tec_on = False
        self.mode = "CURR"
        self.current_setpoint_A = 0.0
        self.current_limit_A = self._defaults["limit"]
        self.power_setpoint_W = 0.0
        self.tec_setpoint_C = self._defaults["tec_set"]
        self.tec_mode = "TEMP"
        self.on_delay_s = 0.0
        self.shape = "DC"
        self.pulse_period_s = 1e-3
        self.pulse_width_s = 5e-4
        self.pulse_hold = "WIDT"
        self.trigger_source = "INT"
        self.external_protection = "PROT"

    def _settings(self) -> dict:
        return {key: getattr(self, key) for key in _SAVED}

    @property
    def emission_on(self) -> bool:
        """LD output enabled (the laser is energized)."""
        return self.ld_on

    output_on = emission_on

    @property
    def current_A(self) -> float:
        """Actual LD current, A (0 when the output is off)."""
        if not self.ld_on:
            return 0.0
        if self.mode == "POW":
            needed = self.threshold_A + self.power_setpoint_W / self.slope_W_per_A
            return min(needed if self.power_setpoint_W > 0 else 0.0, self.current_limit_A)
        return self.current_setpoint_A

    @property
    def peak_power_W(self) -> float:
        """Optical power while light is emitted, W: ``slope * (I - I_threshold)``."""
        return self.slope_W_per_A * max(self.current_A - self.threshold_A, 0.0)

    @property
    def duty_cycle(self) -> float:
        """Fraction of the time light is emitted (1 in CW, ``DC`` shape)."""
        if self.shape == "DC":
            return 1.0
        if self.trigger_source == "INT":
            return self.pulse_width_s / self.pulse_period_s
        return min(self.pulse_width_s * self.external_trigger_Hz, 1.0)

    @property
    def optical_power_W(self) -> float:
        """Average optical output power, W (0 during the LD on delay)."""
        if self.now() < self._light_at:
            return 0.0
        return self.peak_power_W * self.duty_cycle

    @property
    def voltage_V(self) -> float:
        """LD voltage, V (model: photon energy plus the series resistance's drop)."""
        current = self.current_A
        if current <= 0:
            return 0.0
        return _HC_EV_NM / self.wavelength_nm + self.series_resistance_ohm * current

    @property
    def tec_temperature_C(self) -> float:
        """True TEC (diode mount) temperature now, C."""
        with self.lock:
            self._advance()
            return self._tec_T

    def _advance(self) -> None:
        now = self.now()
        dt = now - self._t_last
        if dt > 0:
            target, tau = (
                (self.tec_setpoint_C, self.tec_tau_s)
                if self.tec_on and self.tec_mode == "TEMP"
                else (self.ambient_C, self.passive_tau_s)
            )
            self._tec_T = target + (self._tec_T - target) * math.exp(-dt / tau)
        self._t_last = max(now, self._t_last)

    def _start_light(self) -> None:
        """LD on: light after ``OUTP:DEL`` (the world is told when it starts)."""
        self._light_at = self.now() + self.on_delay_s
        if self._delay_task is not None:
            self._delay_task.cancel()
            self._delay_task = None
        if self.on_delay_s > 0 and self.world is not None:
            self._delay_task = self.world.clock.call_every(
                self.on_delay_s, self._light_starts, name=f"{self.name}-on-delay"
            )

    def _light_starts(self) -> None:
        with self.lock:
            if self._delay_task is not None:
                self._delay_task.cancel()
                self._delay_task = None
            self._output_changed()

    def _output_changed(self) -> None:
        power = self.optical_power_W
        if power != self._sent_power_W:
            self._sent_power_W = power
            if self.world is not None:
                self.world.set_laser(power, self.wavelength_nm, self.spot_area_cm2)

    def _trip(self, which: str) -> None:
        if self.ld_on:
            self.ld_on = False
            self._latched[which] = True
            self._output_changed()

    # -- fault entry points -----------------------------------------------------------
    def set_interlock(self, closed: bool) -> None:
        """Close or open the interlock circuit; opening it while lasing trips the LD."""
        with self.lock:
            self._advance()
            self.interlock_closed = bool(closed)
            if not closed:
                self._trip("interlock")

    def set_keylock(self, on: bool) -> None:
        """Turn the key switch; off while lasing trips the LD."""
        with self.lock:
            self._advance()
            self.keylock_on = bool(on)
            if not on:
                self._trip("keylock")

    def set_overtemperature(self, hot: bool) -> None:
        """Controller over-temperature condition; while lasing it trips the LD."""
        with self.lock:
            self._advance()
            self.overtemperature = bool(hot)
            if hot:
                self._trip("overtemperature")

    def tripped(self, which: str) -> bool:
        """What ``OUTP:PROT:<which>:TRIP?`` reports: condition present or latched."""
        condition = {
            "interlock": not self.interlock_closed,
            "keylock": not self.keylock_on,
            "overtemperature": self.overtemperature,
        }[which]
        return condition or self._latched[which]

    # -- SCPI -------------------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        self._advance()
        reply = self.scpi.execute(line.rstrip("\r"))
        return None if reply is None else reply + "\n"

    def _on_reset(self) -> None:
        self._reset_state()
        self._output_changed()

    def _on_clear(self) -> None:
        for key in self._latched:
            self._latched[key] = False

    def _build_tree(self) -> None:
        add = self.scpi.add
        add(
            "SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]",
            set=self._set_current,
            query=self._query_current,
        )
        add("SOURce[1]:CURRent:LIMit[:AMPLitude]", set=self._set_limit, query=self._query_limit)
        add(
            "SOURce[1]:POWer[:LEVel][:IMMediate][:AMPLitude]",
            set=self._set_power,
            query=self._query_power,
        )
        add("SOURce[1]:FUNCtion[:SHAPe]:MODE", set=self._set_mode, query=lambda c: self.mode)
        add("OUTPut[1][:STATe]", set=self._set_ld, query=lambda c: format_bool(self.ld_on))
        add("OUTPut2[:STATe]", set=self._set_tec, query=lambda c: format_bool(self.tec_on))
        add(
            "SOURce2:TEMPerature[:SPOint]",
            set=self._set_tec_setpoint,
            query=self._query_tec_setpoint,
        )
        add("MEASure[:SCALar]:CURRent[1][:DC]", query=lambda c: format_number(self.current_A))
        add("MEASure[:SCALar]:TEMPerature", query=self._measure_temperature)
        add("SENSe2:TEMPerature:DATA", query=self._measure_temperature)
        add("MEASure[:SCALar]:POWer2", query=lambda c: format_number(self.optical_power_W))
        self._build_qcw_nodes()
        for node, which in (
            ("INTLock", "interlock"),
            ("KEYLock", "keylock"),
            ("OTEMp", "overtemperature"),
        ):
            add(
                f"OUTPut[1]:PROTection:{node}:TRIPped",
                query=lambda c, w=which: format_bool(self.tripped(w)),
            )

    def _build_qcw_nodes(self) -> None:
        add = self.scpi.add
        add(
            "SOURce[1]:TEMPerature[:SPOint]",
            set=self._set_tec_setpoint,
            query=self._query_tec_setpoint,
        )
        add("SOURce2:FUNCtion[:MODE]", set=self._set_tec_mode, query=lambda c: self.tec_mode)
        add("OUTPut[1]:DELay", set=self._set_delay, query=self._query_delay)
        add("*SAV", set=self._save)
        add("*RCL", set=self._recall)
        add("MEASure[:SCALar]:VOLTage[1][:DC]", query=lambda c: format_number(self.voltage_V))
        add("SOURce[1]:FUNCtion:SHAPe", set=self._set_shape, query=lambda c: self.shape)
        add("SOURce[1]:PULSe:PERiod", set=self._set_period, query=self._query_period)
        add("SOURce[1]:PULSe:WIDTh", set=self._set_width, query=self._query_width)
        add("SOURce[1]:PULSe:HOLD", set=self._set_hold, query=lambda c: self.pulse_hold)
        add("TRIGger:SOURce", set=self._set_trigger, query=lambda c: self.trigger_source)
        add(
            "OUTPut[1]:PROTection:EXTernal[:TYPE]",
            set=self._set_external,
            query=lambda c: self.external_protection,
        )

    def _set_tec_mode(self, call: Call) -> None:
        call.expect(1)
        mode = choice(call.args[0], ("TEMPerature", "CURRent"))
        self.tec_mode = "TEMP" if mode == "TEMPerature" else "CURR"

    def _set_delay(self, call: Call) -> None:
        call.expect(1)
        self.on_delay_s = number(
            call.args[0], units=_SECONDS, minimum=0.0, maximum=10.0, default=0.0
        )

    def _query_delay(self, call: Call) -> str:
        if call.args:
            return _bound(call, 0.0, 10.0, 0.0)
        return format_number(self.on_delay_s)

    def _register(self, call: Call) -> int:
        call.expect(1)
        value = number(call.args[0], minimum=0, maximum=_REGISTERS - 1)
        if value != int(value):
            raise SCPIError(-224, f"register {value:g} is not an integer")
        return int(value)

    def _save(self, call: Call) -> None:
        self._registers[self._register(call)] = self._settings()

    def _recall(self, call: Call) -> None:
        register = self._register(call)
        if self.ld_on:
            raise SCPIError(-221, "switch the LD output off before *RCL")
        for key, value in self._registers[register].items():
            setattr(self, key, value)
        self._output_changed()

    def _set_shape(self, call: Call) -> None:
        call.expect(1)
        shape = "DC" if choice(call.args[0], ("DC", "PULSe")) == "DC" else "PULS"
        self.shape = shape
        self._output_changed()

    def _set_period(self, call: Call) -> None:
        call.expect(1)
        period = number(call.args[0], units=_SECONDS, minimum=1e-4, maximum=10.0, default=1e-3)
        if self.pulse_hold == "DCYC":
            self.pulse_width_s *= period / self.pulse_period_s
        elif self.pulse_width_s > period:
            raise SCPIError(-221, f"pulse width {self.pulse_width_s:g} s exceeds the period")
        self.pulse_period_s = period
        self._output_changed()

    def _query_period(self, call: Call) -> str:
        if call.args:
            return _bound(call, 1e-4, 10.0, 1e-3)
        return format_number(self.pulse_period_s)

    def _set_width(self, call: Call) -> None:
        call.expect(1)
        self.pulse_width_s = number(
            call.args[0], units=_SECONDS, minimum=1e-5, maximum=self.pulse_period_s, default=5e-4
        )
        self._output_changed()

    def _query_width(self, call: Call) -> str:
        if call.args:
            return _bound(call, 1e-5, self.pulse_period_s, 5e-4)
        return format_number(self.pulse_width_s)

    def _set_hold(self, call: Call) -> None:
        call.expect(1)
        self.pulse_hold = "WIDT" if choice(call.args[0], ("WIDTh", "DCYCle")) == "WIDTh" else "DCYC"

    def _set_trigger(self, call: Call) -> None:
        call.expect(1)
        self.trigger_source = (
            "INT" if choice(call.args[0], ("INTernal", "EXTernal")) == "INTernal" else "EXT"
        )
        self._output_changed()

    def _set_external(self, call: Call) -> None:
        call.expect(1)
        options = ("PROTection", "OFF", "ON")
        self.external_protection = {"PROTection": "PROT", "OFF": "OFF", "ON": "ON"}[
            choice(call.args[0], options)
        ]

    # LD current and limit
    def _set_current(self, call: Call) -> None:
        call.expect(1)
        value = number(
            call.args[0], units=_AMPS, maximum=self.current_limit_A, minimum=0.0, default=0.0
        )
        self.current_setpoint_A = value
        self._output_changed()

    def _query_current(self, call: Call) -> str:
        if call.args:
            return _bound(call, 0.0, self.current_limit_A, 0.0)
        return format_number(self.current_setpoint_A)

    def _set_limit(self, call: Call) -> None:
        call.expect(1)
        value = number(
            call.args[0],
            units=_AMPS,
            minimum=0.0,
            maximum=self.current_rating_A,
            default=self._defaults["limit"],
        )
        self.current_limit_A = value
        self.current_setpoint_A = min(self.current_setpoint_A, value)
        self._output_changed()

    def _query_limit(self, call: Call) -> str:
        if call.args:
            return _bound(call, 0.0, self.current_rating_A, self._defaults["limit"])
        return format_number(self.current_limit_A)

    # constant-power mode
    def _max_power_W(self) -> float:
        return self.slope_W_per_A * max(self.current_limit_A - self.threshold_A, 0.0)

    def _set_power(self, call: Call) -> None:
        call.expect(1)
        self.power_setpoint_W = number(
            call.args[0], units=_WATTS, minimum=0.0, maximum=self._max_power_W(), default=0.0
        )
        self._output_changed()

    def _query_power(self, call: Call) -> str:
        if call.args:
            return _bound(call, 0.0, self._max_power_W(), 0.0)
        return format_number(self.power_setpoint_W)

    def _set_mode(self, call: Call) -> None:
        call.expect(1)
        mode = {"CURRent": "CURR", "POWer": "POW"}[choice(call.args[0], ("CURRent", "POWer"))]
        if mode != self.mode and self.ld_on:
            raise SCPIError(-221, "switch the LD output off before changing the mode")
        self.mode = mode

    # outputs
    def _ld_refusal(self) -> str | None:
        if not self.interlock_closed:
            return "interlock open"
        if not self.keylock_on:
            return "keylock off"
        if self.overtemperature:
            return "controller over temperature"
        if not self.tec_on:
            return "TEC output off"
        if abs(self._tec_T - self.tec_setpoint_C) > self.tec_window_C:
            return "TEC temperature outside window"
        return None

    def _set_ld(self, call: Call) -> None:
        call.expect(1)
        on = boolean(call.args[0])
        if on and not self.ld_on:
            reason = self._ld_refusal()
            if reason is not None:
                raise SCPIError(-221, f"LD output refused: {reason}")
            self._on_clear()
            self._start_light()
        self.ld_on = on
        self._output_changed()

    def _set_tec(self, call: Call) -> None:
        call.expect(1)
        on = boolean(call.args[0])
        if not on and self.ld_on:
            self.ld_on = False
            self._output_changed()
        self.tec_on = on

    def _set_tec_setpoint(self, call: Call) -> None:
        call.expect(1)
        low, high = self.tec_range_C
        self.tec_setpoint_C = number(
            call.args[0],
            units=_CELSIUS,
            minimum=low,
            maximum=high,
            default=self._defaults["tec_set"],
        )

    def _query_tec_setpoint(self, call: Call) -> str:
        if call.args:
            return _bound(call, *self.tec_range_C, self._defaults["tec_set"])
        return format_number(self.tec_setpoint_C)

    def _measure_temperature(self, call: Call) -> str:
        value = self._tec_T
        if self.tec_noise_C > 0 and self.world is not None:
            value += float(self.world.rng.normal(0.0, self.tec_noise_C))
        return format_number(round(value, 3))


def _bound(call: Call, minimum: float, maximum: float, default: float) -> str:
    """Reply to ``<query>? MIN|MAX|DEF`` (a number there is error -224)."""
    call.expect(1)
    if call.args[0].strip()[:1].isalpha():
        return format_number(
            number(call.args[0], minimum=minimum, maximum=maximum, default=default)
        )
    raise SCPIError(-224, f"{call.header}? takes MIN, MAX or DEF")
