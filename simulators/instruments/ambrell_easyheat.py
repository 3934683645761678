"""Emulator of an Ambrell EASYHEAT induction heater driving a resonant AMF coil.

Protocol (RS-485 ASCII), as the sources show it:

- frames ``address,command[,argument]`` + CR, no spaces, not case-sensitive; address
  1-32, 0 broadcasts to every unit (EASYHEAT manual, "Command set");
- replies are framed ``<CR><LF>payload<CR><LF>`` (the ISIS EPICS IOC reads a first,
  empty line, then the payload; its lewis emulator sends the same);
- ``SYSID`` -> system id; ``RDATA`` -> ``address,heat,setpoint A,tank A,power W,
  frequency kHz,count-down timer ms,count-up timer ms`` (ISIS protocol file, example
  ``1,1,280.0,280.0,1006,286,0,972``); ``STAT`` -> ``mains V,total time s,max power W,
  max heat-sink C,max enclosure C`` (ISIS protocol file and emulator);
- ``amps,#.##`` only while the control location is RS-485, ``%amps,#``, ``almin,#``,
  ``almax,#``, ``aldelay,#.##``, ``alon``, ``aloff``, ``maxamps``, ``?`` and ``0,hoff``
  (manual); ``maxamps`` answers a bare number (public client code reads it with
  ``int()``); ``temp``, ``rtemp`` and ``timer,<s>`` are used by public client code.

Model, not documented (correct against a real unit):

- the control location (front panel or RS-485) is a setting of the unit, the option
  ``control``; commands that need RS-485 are ignored otherwise;
- set commands, broadcasts, unknown commands and frames for other addresses get no
  reply (no source shows an acknowledgement or an error reply);
- ``hon`` switches heat on (the manual's page shows only ``hoff``); ``faults`` answers
  the latched interlock bitmask (1 coolant flow, 2 coil over-temperature, 4 capacitor
  over-temperature, 8 power alarm), ``reset`` clears latched faults whose cause is gone;
  ``tank,<kHz>`` selects a resonant frequency of a switchable capacitor bank (a real
  unit's frequency is set by its workhead);
- ``temp`` answers the heat-sink temperature, C, ``rtemp`` the same in 0.1 C counts;
  heat-sink and enclosure temperatures rise linearly with the power drawn;
- ``timer,<s>`` sets a heat cycle length (0: unlimited): heat goes off when the
  count-down reaches 0; ``STAT``'s maxima are over the unit's life since power-on.

Physics:

- the capacitor bank offers a few resonant frequencies (keys of ``coil_calibration``);
  the peak field at the sample is ``H = k(f) * I`` (``k`` in kA/m per A of tank current);
- the tank current ramps towards the setpoint at ``slew_A_s`` while heating and drops
  to 0 when heat goes off; the world's field is updated on every command, poll and
  ramp tick (``tick_s`` of clock time), so a lockstep jump integrates the ramp; the
  last tick's worth of a ramp (all of a small control correction) is done at once;
- power readback: coil and tank losses ``I^2 R(f)`` with the skin-effect scaling
  ``R(f) = R_ref * sqrt(f / f_ref)`` (skin depth ``delta = sqrt(2 rho / (omega mu))``,
  e.g. Jackson, *Classical Electrodynamics*, 3rd ed., sec. 8.1), plus the power the
  sample absorbs (``world.amf_power_W()``, when ``include_load``);
- interlocks: coolant flow and coil/capacitor over-temperature refuse heat on and trip
  it off, latched until ``reset`` once the cause is gone; the power-window alarm
  trips heat off when the power stays outside ``[almin, almax]`` for longer than
  ``aldelay`` seconds while enabled (counted from heat on).
"""

from __future__ import annotations

import math
import re

from labctl.core.errors import ConfigError
from labctl.simulators.instruments.base import LineEmulator
from labctl.simulators.physics.world import SimWorld

__all__ = ["AmbrellEasyHeatEmulator", "DEFAULT_COIL_CALIBRATION", "CONTROL_LOCATIONS"]

#: Hz -> kA/m per A: 230 kHz / 8 kA/m and 354 kHz / 13 mT heating, 20 kHz MPI drive.
DEFAULT_COIL_CALIBRATION = {230e3: 0.040, 354e3: 0.035, 20e3: 0.050}
#: where setpoints and heat on/off may come from (a front-panel setting of the unit)
CONTROL_LOCATIONS = ("rs485", "front_panel")

COOLANT_FLOW, COIL_OVERTEMP, CAPACITOR_OVERTEMP, POWER_ALARM = 1, 2, 4, 8
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_BROADCAST = ("hoff", "aloff", "alon")  #: acted on at address 0 (model: which are bold)
_FRAME = "\r\n{}\r\n"  #: ISIS: <CR><LF>payload<CR><LF>
#: command, argument count(s), handler, help line (``?`` reply); * = model, not documented
_COMMANDS = (
    ("?", 0, "help", "? - list commands"),
    ("sysid", 0, "sysid", "sysid - system id"),
    ("rdata", 0, "rdata", "rdata - addr,heat,setpoint A,tank A,power W,kHz,down ms,up ms"),
    ("stat", 0, "stat", "stat - mains V,total s,max W,max heat sink C,max enclosure C"),
    ("amps", 1, "amps", "amps,#.## - amps setpoint (RS485 control), 0 to maxamps"),
    ("%amps", 1, "pct", "%amps,# - amps setpoint in % of maxamps"),
    ("maxamps", 0, "maxamps", "maxamps - maximum amps setpoint"),
    ("hoff", 0, "hoff", "hoff - heat off"),
    ("hon", 0, "hon", "hon - heat on (RS485 control)*"),
    ("almin", 1, "almin", "almin,# - alarm minimum W"),
    ("almax", 1, "almax", "almax,# - alarm maximum W"),
    ("aldelay", 1, "aldelay", "aldelay,#.## - alarm delay s"),
    ("alon", 0, "alon", "alon - alarm on"),
    ("aloff", 0, "aloff", "aloff - alarm off"),
    ("temp", 0, "temp", "temp - heat sink temperature C*"),
    ("rtemp", 0, "rtemp", "rtemp - heat sink temperature 0.1 C counts*"),
    ("timer", 1, "timer", "timer,# - heat cycle length s, 0 unlimited*"),
    ("faults", 0, "faults", "faults - latched: 1 flow,2 coil,4 capacitor,8 power alarm*"),
    ("reset", 0, "reset", "reset - clear latched faults whose cause is gone*"),
    ("tank", 1, "tank", "tank,# - select resonant frequency kHz (heat off)*"),
)


class _Ignored(Exception):
    """A command the unit does not act on (wrong argument, not allowed now)."""


class AmbrellEasyHeatEmulator(LineEmulator):
    """EASYHEAT unit at bus ``address`` driving a coil (see the module docstring).

    Options (units): ``coil_calibration`` Hz -> kA/m per A; ``frequency_Hz`` initial
    tank (default: first calibration key); ``max_current_A``; ``slew_A_s`` (A/s);
    ``coil_resistance_ohm`` at ``resistance_ref_Hz``; ``readback_noise`` (relative
    1-sigma on amps/watts readbacks); ``control`` ``"rs485"`` (default) or
    ``"front_panel"``, the unit's control location; ``percent_amps`` whether ``%amps``
    is enabled in the configuration menu; ``system_id`` (``SYSID``); ``mains_V``;
    ``coolant_C`` and ``heatsink_C_per_W``, ``enclosure_C_per_W`` (temperature model);
    ``tick_s`` ramp/alarm update period (clock s); ``include_load``.
    """

    @classmethod
    def from_bench(cls, world, *, name: str, options: dict, **kwargs) -> AmbrellEasyHeatEmulator:
        """The emulated unit of a bench entry (at its ``unit_address`` on the bus)."""
        return cls(world, name=name, address=options.get("unit_address", 1), **kwargs)

    terminator = b"\r"

    def __init__(
        self,
        world: SimWorld,
        *,
        name: str = "amf",
        address: int = 1,
        coil_calibration: dict[float, float] | None = None,
        frequency_Hz: float | None = None,
        max_current_A: float = 600.0,
        slew_A_s: float = 300.0,
        coil_resistance_ohm: float = 0.02,
        resistance_ref_Hz: float = 230e3,
        readback_noise: float = 0.005,
        control: str = "rs485",
        percent_amps: bool = True,
        system_id: int = 12345,
        mains_V: float = 230.0,
        coolant_C: float = 20.0,
        heatsink_C_per_W: float = 0.01,
        enclosure_C_per_W: float = 0.004,
        tick_s: float = 0.05,
        include_load: bool = True,
    ) -> None:
        super().__init__(world, name=name)
        if world is None:
            raise ConfigError(f"emulator {name!r}: an AMF generator needs a SimWorld")
        if not 1 <= int(address) <= 32:
            raise ConfigError(f"emulator {name!r}: address must be 1-32, not {address!r}")
        if control not in CONTROL_LOCATIONS:
            raise ConfigError(
                f"emulator {name!r}: control must be one of {', '.join(CONTROL_LOCATIONS)}, "
                f"not {control!r}"
            )
        cal = dict(DEFAULT_COIL_CALIBRATION if coil_calibration is None else coil_calibration)
        if not cal or any(f <= 0 or k <= 0 for f, k in cal.items()):
            raise ConfigError(f"emulator {name!r}: coil_calibration needs positive Hz -> k")
        self.address = int(address)
        self.coil_calibration = {float(f): float(k) for f, k in cal.items()}
        self.max_current_A = float(max_current_A)
        self.slew_A_s = float(slew_A_s)
        self.coil_resistance_ohm = float(coil_resistance_ohm)
        self.resistance_ref_Hz = float(resistance_ref_Hz)
        self.readback_noise = float(readback_noise)
        self.tick_s = float(tick_s)
        self.include_load = bool(include_load)
        self.control = control
        self.percent_amps = bool(percent_amps)
        self.system_id = int(system_id)
        self.mains_V = float(mains_V)
        self.coolant_C = float(coolant_C)
        self.heatsink_C_per_W = float(heatsink_C_per_W)
        self.enclosure_C_per_W = float(enclosure_C_per_W)
        self.cycle_s = 0.0  #: ``timer`` setting, s (0: unlimited)
        self.total_s = 0.0  #: heat-on time since power-on, s
        self.max_power_W = 0.0
        self.max_heatsink_C = self.coolant_C
        self.max_enclosure_C = self.coolant_C
        self._frequency_Hz = (
            next(iter(self.coil_calibration))
            if frequency_Hz is None
            else self._match_frequency(frequency_Hz)
        )
        if self._frequency_Hz is None:
            raise ConfigError(f"emulator {name!r}: {frequency_Hz} Hz is not a calibrated tank")
        self._heating = False
        self.setpoint_A = 0.0
        self._current_A = 0.0
        self.alarm_enabled = False
        self.alarm_min_W = 0.0
        self.alarm_max_W = 99999.0
        self.alarm_delay_s = 0.0
        self._outside_since: float | None = None
        self._latched = 0
        self._conditions = 0  #: fault causes present now (injected)
        self._heat_on_at: float | None = None
        self._timer_s = 0.0
        self.counter = 0  #: heat cycles since power-on
        self._t_last = self.now()
        self._pushed: tuple[float, float] | None = None
        self._task = None
        self._commands = {
            name: (getattr(self, f"_cmd_{handler}"), nargs) for name, nargs, handler, _ in _COMMANDS
        }

    # -- introspection (tests, safety checks, fault injection) -------------------------
    @property
    def heating(self) -> bool:
        with self.lock:
            self._advance()
            return self._heating

    @property
    def current_A(self) -> float:
        """True tank current, A."""
        with self.lock:
            self._advance()
            return self._current_A

    @property
    def frequency_Hz(self) -> float:
        return self._frequency_Hz

    @property
    def field_A_m(self) -> float:
        """Peak field at the sample now, A/m (0 when heat is off)."""
        with self.lock:
            self._advance()
            return self._field_A_m()

    @property
    def fault_bits(self) -> int:
        """Latched fault bitmask (1 coolant flow, 2 coil, 4 capacitor temp, 8 power alarm)."""
        with self.lock:
            self._advance()
            return self._latched

    def power_W(self) -> float:
        """True power drawn from the generator now, W."""
        with self.lock:
            self._advance()
            return self._power_W()

    def set_coolant_ok(self, ok: bool) -> None:
        """Fault injection: coolant flow restored (``True``) or lost (``False``)."""
        self._set_condition(COOLANT_FLOW, not ok)

    def set_overtemperature(self, hot: bool, where: str = "coil") -> None:
        """Fault injection: coil (or ``where="capacitor"``) over-temperature on/off."""
        if where not in ("coil", "capacitor"):
            raise ValueError(f"where must be 'coil' or 'capacitor', not {where!r}")
        self._set_condition(COIL_OVERTEMP if where == "coil" else CAPACITOR_OVERTEMP, hot)

    def shutdown(self) -> None:
        """Heat off and stop the ramp task (end of a simulation)."""
        with self.lock:
            self._advance()
            self._heat_off()
            self._push_field()
            self._cancel_task()

    # -- LineEmulator hooks ------------------------------------------------------------
    def poll(self) -> None:
        if self.now() != self._t_last:  # nothing moves without time (commands advance)
            self._advance()

    def handle(self, line: str) -> str | None:
        parts = line.strip("\n").split(",")
        if len(parts) < 2 or not parts[0].isdigit():
            return None  # not addressed to anyone: a bus unit stays silent
        address, command, args = int(parts[0]), parts[1].lower(), parts[2:]
        if address not in (0, self.address):
            return None
        entry = self._commands.get(command)
        if entry is None or len(args) != entry[1] or (address == 0 and command not in _BROADCAST):
            return None
        with self.lock:
            self._advance()
            try:
                reply = entry[0](args)
            except _Ignored:
                reply = None
            self._advance()
        if reply is None or address == 0:
            return None
        return _FRAME.format(reply)

    # -- queries -----------------------------------------------------------------------
    def _cmd_help(self, args):
        return "\r\n".join(text for _, _, _, text in _COMMANDS)

    def _cmd_sysid(self, args):
        return str(self.system_id)

    def _cmd_rdata(self, args):
        amps = self._noisy(self._current_A)
        watts = self._noisy(self._power_W())
        up_s = (self._t_last - self._heat_on_at) if self._heating else self._timer_s
        down_s = max(self.cycle_s - up_s, 0.0) if self._heating and self.cycle_s else 0.0
        return (
            f"{self.address},{int(self._heating)},{self.setpoint_A:.1f},{amps:.1f},"
            f"{watts:.0f},{self._frequency_Hz / 1e3:.0f},{down_s * 1e3:.0f},{up_s * 1e3:.0f}"
        )

    def _cmd_stat(self, args):
        return (
            f"{self.mains_V:.1f},{self.total_s + self._on_s():.1f},{self.max_power_W:.1f},"
            f"{self.max_heatsink_C:.1f},{self.max_enclosure_C:.1f}"
        )

    def _cmd_maxamps(self, args):
        return f"{self.max_current_A:g}"

    def _cmd_temp(self, args):
        return f"{self._heatsink_C():.1f}"

    def _cmd_rtemp(self, args):
        return f"{round(self._heatsink_C() * 10)}"

    def _cmd_faults(self, args):
        return str(self._latched)

    # -- settings (no reply: model) ------------------------------------------------------
    def _cmd_reset(self, args):
        self._latched &= self._conditions

    def _cmd_amps(self, args):
        self._require_rs485()
        self.setpoint_A = round(self._number(args[0], 0.0, self.max_current_A), 2)

    def _cmd_pct(self, args):
        self._require_rs485()
        if not self.percent_amps:
            raise _Ignored
        self.setpoint_A = round(self._number(args[0], 0.0, 100.0) / 100 * self.max_current_A, 2)

    def _cmd_hon(self, args):
        self._require_rs485()
        if self._latched or self._conditions:
            self._latched |= self._conditions
            raise _Ignored
        if not self._heating:
            self._heating = True
            self._current_A = 0.0
            self._heat_on_at = self._t_last
            self._outside_since = None
            self.counter += 1

    def _cmd_hoff(self, args):
        self._heat_off()

    def _cmd_tank(self, args):
        self._require_rs485()
        f = self._match_frequency(self._number(args[0], 0.0, math.inf) * 1e3)
        if f is None or (self._heating and f != self._frequency_Hz):
            raise _Ignored
        self._frequency_Hz = f

    def _cmd_timer(self, args):
        self.cycle_s = self._number(args[0], 0.0, 99999.0)

    def _cmd_almin(self, args):
        self.alarm_min_W = round(self._number(args[0], 0.0, math.inf))

    def _cmd_almax(self, args):
        self.alarm_max_W = round(self._number(args[0], 0.0, math.inf))

    def _cmd_aldelay(self, args):
        self.alarm_delay_s = round(self._number(args[0], 0.0, 9999.99), 2)

    def _cmd_alon(self, args):
        self.alarm_enabled = True

    def _cmd_aloff(self, args):
        self.alarm_enabled = False
        self._outside_since = None

    # -- internals ---------------------------------------------------------------------
    def _require_rs485(self) -> None:
        if self.control != "rs485":
            raise _Ignored

    @staticmethod
    def _number(text: str, low: float, high: float) -> float:
        if not _NUMBER.match(text):
            raise _Ignored
        value = float(text)
        if not low <= value <= high:
            raise _Ignored
        return value

    def _on_s(self) -> float:
        return (self._t_last - self._heat_on_at) if self._heating else 0.0

    def _heatsink_C(self) -> float:
        return self.coolant_C + self.heatsink_C_per_W * self._power_W()

    def _match_frequency(self, frequency_Hz: float) -> float | None:
        for f in self.coil_calibration:
            if abs(f - frequency_Hz) <= 500.0:  # within 0.5 kHz of a tank
                return f
        return None

    def _noisy(self, value: float) -> float:
        if value <= 0 or self.readback_noise <= 0:
            return max(value, 0.0)
        return max(value * (1 + self.readback_noise * float(self.world.rng.normal())), 0.0)

    def _field_A_m(self) -> float:
        if not self._heating:
            return 0.0
        return self.coil_calibration[self._frequency_Hz] * 1e3 * self._current_A

    def _coil_power_W(self) -> float:
        r = self.coil_resistance_ohm * math.sqrt(self._frequency_Hz / self.resistance_ref_Hz)
        return self._current_A**2 * r

    def _power_W(self) -> float:
        return self._coil_power_W() + (self._load_power_W() if self._heating else 0.0)

    def _load_power_W(self) -> float:
        if not self.include_load:
            return 0.0
        value = self.world.amf_power_W()
        return value if math.isfinite(value) else 0.0

    def _heat_off(self) -> None:
        if self._heating:
            self._timer_s = self._t_last - self._heat_on_at
            self.total_s += self._timer_s
        self._heating = False
        self._current_A = 0.0
        self._outside_since = None

    def _set_condition(self, bit: int, present: bool) -> None:
        with self.lock:
            self._advance()
            if present:
                self._conditions |= bit
                self._latched |= bit
                self._heat_off()
            else:
                self._conditions &= ~bit
            self._advance()

    def _advance(self) -> None:
        """Bring the ramp, the alarm and the world's field up to the clock's now."""
        now = self.now()
        dt = now - self._t_last
        if self._heating:
            # what the slew covers within one tick is below the ramp's time resolution
            # and done at once: control corrections need no tick (nor a world update)
            step = self.slew_A_s * (max(dt, 0.0) + self.tick_s)
            diff = self.setpoint_A - self._current_A
            if abs(diff) <= step:
                self._current_A = self.setpoint_A
            elif dt > 0:
                self._current_A += math.copysign(self.slew_A_s * dt, diff)
        self._t_last = max(now, self._t_last)
        if self._heating and self.cycle_s and now - self._heat_on_at >= self.cycle_s:
            self._heat_off()
        self._track_maxima()
        if self._heating and self.alarm_enabled:
            p = self._coil_power_W()
            if self.alarm_min_W <= p <= self.alarm_max_W:
                self._outside_since = None
            else:
                if self._outside_since is None:
                    self._outside_since = now
                if now - self._outside_since > self.alarm_delay_s:
                    self._latched |= POWER_ALARM
                    self._heat_off()
        self._push_field()
        self._schedule()

    def _track_maxima(self) -> None:
        p = self._power_W()
        self.max_power_W = max(self.max_power_W, p)
        self.max_heatsink_C = max(self.max_heatsink_C, self.coolant_C + self.heatsink_C_per_W * p)
        self.max_enclosure_C = max(
            self.max_enclosure_C, self.coolant_C + self.enclosure_C_per_W * p
        )

    def _push_field(self) -> None:
        state = (self._frequency_Hz, self._field_A_m())
        if state != self._pushed:
            self._pushed = state
            self.world.set_amf(*state)

    def _schedule(self) -> None:
        ramping = self._heating and self._current_A != self.setpoint_A
        counting = self._heating and (self._outside_since is not None or self.cycle_s > 0)
        if ramping or counting:
            if self._task is None:
                self._task = self.world.clock.call_every(
                    self.tick_s, self._tick, name=f"{self.name}-ramp"
                )
        else:
            self._cancel_task()

    def _cancel_task(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _tick(self) -> None:
        # Called by the clock; a lockstep clock fires tasks while holding its own lock,
        # so never block on ours (a command in another thread may be scheduling a task):
        # a skipped tick is caught up by the next one, the ramp being a function of time.
        if not self.lock.acquire(timeout=0.05):
            return
        try:
            self._advance()
        finally:
            self.lock.release()
