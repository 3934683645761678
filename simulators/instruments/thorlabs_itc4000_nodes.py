"""ITC4000 emulator: the SCPI nodes public client code sends to real units (a mixin).

``SOURce2:FUNCtion``, ``SOURce[1]:TEMPerature`` (the TEC setpoint), ``OUTPut[1]:DELay``,
``*SAV``/``*RCL``, ``MEASure:VOLTage?``, and the QCW nodes ``SOURce[1]:FUNCtion:SHAPe``,
``SOURce[1]:PULSe:PERiod|WIDTh|HOLD``, ``TRIGger:SOURce``,
``OUTPut[1]:PROTection:EXTernal``; their behaviour and the models are described in
:mod:`labctl.simulators.instruments.thorlabs_itc4000`.  Mixed into
:class:`~labctl.simulators.instruments.thorlabs_itc4000.ITC4000Emulator`, whose state
(``scpi``, ``ld_on``, the settings) it reads and writes.
"""

from __future__ import annotations

from labctl.simulators.instruments.scpi import (
    Call,
    SCPIError,
    choice,
    format_number,
    number,
)

__all__ = ["ClientNodes", "SAVED_SETTINGS", "REGISTERS", "HC_EV_NM", "bound"]

SECONDS = ("S",)
SAVED_SETTINGS = (
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
REGISTERS = 10
HC_EV_NM = 1239.84198  #: h c / q, eV nm


def bound(call: Call, minimum: float, maximum: float, default: float) -> str:
    """Reply to ``<query>? MIN|MAX|DEF`` (a number there is error -224)."""
    call.expect(1)
    if call.args[0].strip()[:1].isalpha():
        return format_number(
            number(call.args[0], minimum=minimum, maximum=maximum, default=default)
        )
    raise SCPIError(-224, f"{call.header}? takes MIN, MAX or DEF")


class ClientNodes:
    """TEC mode, on delay, settings registers, LD voltage and QCW nodes."""

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
            call.args[0], units=SECONDS, minimum=0.0, maximum=10.0, default=0.0
        )

    def _query_delay(self, call: Call) -> str:
        if call.args:
            return bound(call, 0.0, 10.0, 0.0)
        return format_number(self.on_delay_s)

    def _register(self, call: Call) -> int:
        call.expect(1)
        value = number(call.args[0], minimum=0, maximum=REGISTERS - 1)
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
        period = number(call.args[0], units=SECONDS, minimum=1e-4, maximum=10.0, default=1e-3)
        if self.pulse_hold == "DCYC":
            self.pulse_width_s *= period / self.pulse_period_s
        elif self.pulse_width_s > period:
            raise SCPIError(-221, f"pulse width {self.pulse_width_s:g} s exceeds the period")
        self.pulse_period_s = period
        self._output_changed()

    def _query_period(self, call: Call) -> str:
        if call.args:
            return bound(call, 1e-4, 10.0, 1e-3)
        return format_number(self.pulse_period_s)

    def _set_width(self, call: Call) -> None:
        call.expect(1)
        self.pulse_width_s = number(
            call.args[0], units=SECONDS, minimum=1e-5, maximum=self.pulse_period_s, default=5e-4
        )
        self._output_changed()

    def _query_width(self, call: Call) -> str:
        if call.args:
            return bound(call, 1e-5, self.pulse_period_s, 5e-4)
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
