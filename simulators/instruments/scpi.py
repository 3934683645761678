"""A small SCPI command-tree parser for instrument emulators (IEEE 488.2 / SCPI-1999).

What it implements, as a real instrument's parser does:

- headers matched case-insensitively in short or long form: the short form is the
  upper-case part of the mnemonic (``SOURce`` accepts ``SOUR`` and ``SOURCE``, not
  ``SOURC``);
- optional nodes in brackets (``SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]``),
  numeric suffixes: fixed (``OUTPut2``), optional with a default (``OUTPut[1]``) or
  captured (``CHANnel#``, default 1, passed to the handler);
- ``?`` queries, parameters separated by commas, ``MINimum``/``MAXimum``/``DEFault``
  numeric arguments, unit suffixes with SI multipliers (``500MA``, ``25C``);
- several program message units in one line separated by ``;``.  A unit without a
  leading ``:`` is first looked up relative to the previous unit's path (SCPI-1999
  vol. 1, 6.2.4), then, leniently, from the root; a leading ``:`` starts at the root;
  common commands do not change the path.  Query replies of one line are joined by
  ``;`` into one response message;
- IEEE 488.2 common commands ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC``, ``*OPC?``,
  ``*WAI``, ``*TST?``, ``*ESR?``, ``*ESE``, ``*STB?`` and ``SYSTem:ERRor[:NEXT]?`` /
  ``SYSTem:ERRor:COUNt?`` / ``SYSTem:VERSion?``;
- the error/event queue (SCPI-1999 vol. 2, 21.8): first in, first out, ``+0,"No
  error"`` when empty; when full, the newest entry is replaced by ``-350,"Queue
  overflow"``.  Errors set the matching Standard Event Status Register bit (command
  -1xx: CME, execution -2xx: EXE, device -3xx: DDE, query -4xx: QYE).  A command error
  (-1xx) discards the rest of the line; execution errors do not.

Handlers raise :class:`SCPIError` to refuse a command; the tree queues the error.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "STANDARD_ERRORS",
    "SCPIError",
    "ErrorQueue",
    "Call",
    "CommandTree",
    "match_mnemonic",
    "number",
    "boolean",
    "choice",
    "format_number",
    "format_bool",
]

#: SCPI-1999 standard error messages used by the emulators (code -> message).
STANDARD_ERRORS: dict[int, str] = {
    0: "No error",
    -100: "Command error",
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -131: "Invalid suffix",
    -138: "Suffix not allowed",
    -200: "Execution error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -300: "Device-specific error",
    -350: "Queue overflow",
    -400: "Query error",
}

# Standard Event Status Register bits (IEEE 488.2, 11.5.1)
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME = 1, 4, 8, 16, 32


class SCPIError(Exception):
    """A refused command: ``code`` (SCPI error number) and optional device detail."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        self.code = int(code)
        self.detail = detail
        super().__init__(f"{code},{self.message!r}")

    @property
    def message(self) -> str:
        base = STANDARD_ERRORS.get(self.code, "Device-specific error")
        return f"{base};{self.detail}" if self.detail else base


class ErrorQueue:
    """The SCPI error/event queue (first in, first out, ``size`` entries)."""

    def __init__(self, size: int = 30) -> None:
        if size < 2:
            raise ValueError("an SCPI error queue holds at least 2 entries")
        self.size = size
        self._items: deque[tuple[int, str]] = deque()

    def push(self, code: int, message: str) -> None:
        """Append an error; on overflow the newest entry becomes -350."""
        if len(self._items) >= self.size:
            if self._items[-1][0] != -350:
                self._items[-1] = (-350, STANDARD_ERRORS[-350])
            return
        self._items.append((int(code), message))

    def pop(self) -> tuple[int, str]:
        """Oldest error, or ``(0, "No error")``."""
        return self._items.popleft() if self._items else (0, STANDARD_ERRORS[0])

    def format_next(self) -> str:
        """Pop and format as a ``SYSTem:ERRor?`` reply: ``-222,"Data out of range"``."""
        code, message = self.pop()
        return f'{code:+d},"{message}"'

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Call:
    """One parsed program message unit handed to a handler."""

    header: str  #: the header as received (without ``?``)
    args: tuple[str, ...]  #: raw parameters, whitespace stripped
    query: bool
    suffixes: tuple[int, ...] = ()  #: values of ``#`` suffixes in the pattern

    def arg(self, index: int = 0) -> str:
        """Parameter ``index``; a missing one is error -109."""
        if index >= len(self.args):
            raise SCPIError(-109, f"{self.header} needs a parameter")
        return self.args[index]

    def expect(self, count: int) -> None:
        """Refuse any number of parameters other than ``count`` (-109 / -108)."""
        if len(self.args) < count:
            raise SCPIError(-109, f"{self.header} needs {count} parameter(s)")
        if len(self.args) > count:
            raise SCPIError(-108, f"{self.header} takes {count} parameter(s)")


Handler = Callable[[Call], object]


def match_mnemonic(token: str, mnemonic: str) -> bool:
    """True if ``token`` is the short or long form of ``mnemonic`` (case-insensitive)."""
    short = "".join(c for c in mnemonic if c.isupper() or c == "_") or mnemonic
    return token.upper() in (short.upper(), mnemonic.upper())


@dataclass(frozen=True)
class _Node:
    mnemonic: str
    optional: bool
    suffix: str  # "" none, "fixed", "default", "any"
    suffix_value: int


_PATTERN_ELEMENT = re.compile(
    r"(?P<open>\[)?:?(?P<name>[A-Za-z_]+)(?P<suffix>\d+|\[\d+\]|#)?(?(open)\])"
)
_HEADER_TOKEN = re.compile(r"([A-Za-z_]+)(\d*)")


def _compile(pattern: str) -> tuple[_Node, ...]:
    nodes: list[_Node] = []
    pos = 0
    text = pattern.strip()
    while pos < len(text):
        m = _PATTERN_ELEMENT.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"bad SCPI pattern {pattern!r} at {text[pos:]!r}")
        suffix = m.group("suffix") or ""
        if not suffix:
            kind, value = "", 1
        elif suffix == "#":
            kind, value = "any", 1
        elif suffix.startswith("["):
            kind, value = "default", int(suffix[1:-1])
        else:
            kind, value = "fixed", int(suffix)
        nodes.append(_Node(m.group("name"), m.group("open") is not None, kind, value))
        pos = m.end()
    return tuple(nodes)


def _match(nodes: Sequence[_Node], tokens: Sequence[tuple[str, str]]) -> list[int] | None:
    """Captured ``#`` suffixes if ``tokens`` match ``nodes``, else None."""
    if not nodes:
        return [] if not tokens else None
    node, rest = nodes[0], nodes[1:]
    if tokens:
        name, digits = tokens[0]
        if match_mnemonic(name, node.mnemonic):
            ok, captured = True, []
            if node.suffix == "":
                ok = digits == ""
            elif node.suffix == "any":
                captured = [int(digits) if digits else node.suffix_value]
            else:
                ok = (int(digits) if digits else None) == node.suffix_value or (
                    node.suffix == "default" and digits == ""
                )
            if ok:
                tail = _match(rest, tokens[1:])
                if tail is not None:
                    return captured + tail
    if node.optional:
        return _match(rest, tokens)
    return None


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, buf, quote = [], [], None
    for ch in text:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            buf.append(ch)
        elif ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if quote:
        raise SCPIError(-102, "unterminated string")
    parts.append("".join(buf))
    return parts


class CommandTree:
    """Command tree plus IEEE 488.2 status and error queue of one emulated instrument.

    ``idn``: the ``*IDN?`` reply (or a callable making it); ``on_reset``/``on_clear``
    run on ``*RST``/``*CLS`` (the tree itself clears the queue and status on ``*CLS``).
    """

    def __init__(
        self,
        *,
        idn: str | Callable[[], str],
        on_reset: Callable[[], None] | None = None,
        on_clear: Callable[[], None] | None = None,
        queue_size: int = 30,
    ) -> None:
        self.errors = ErrorQueue(queue_size)
        self.esr = 0  #: Standard Event Status Register
        self.ese = 0  #: Standard Event Status Enable register
        self._idn = idn
        self._on_reset = on_reset
        self._on_clear = on_clear
        self._commands: list[tuple[str, tuple[_Node, ...], Handler | None, Handler | None]] = []
        self._common: dict[str, tuple[Handler | None, Handler | None]] = {}
        self._add_standard()

    # -- building ---------------------------------------------------------------------
    def add(
        self, pattern: str, *, set: Handler | None = None, query: Handler | None = None
    ) -> None:
        """Register ``pattern`` with a setting handler and/or a query handler.

        A query handler returns the reply text; a setting handler returns nothing.
        """
        if set is None and query is None:
            raise ValueError(f"{pattern}: give a set and/or a query handler")
        if pattern.startswith("*"):
            self._common[pattern.upper().rstrip("?")] = (set, query)
        else:
            self._commands.append((pattern, _compile(pattern), set, query))

    def _add_standard(self) -> None:
        self.add("*IDN", query=lambda c: self._idn() if callable(self._idn) else self._idn)
        self.add("*RST", set=lambda c: self._on_reset() if self._on_reset else None)
        self.add("*CLS", set=lambda c: self.clear_status())
        self.add("*OPC", set=lambda c: self._set_esr(ESR_OPC), query=lambda c: "1")
        self.add("*WAI", set=lambda c: None)
        self.add("*TST", query=lambda c: "0")
        self.add("*ESR", query=lambda c: str(self._read_esr()))
        self.add("*ESE", set=self._set_ese, query=lambda c: str(self.ese))
        self.add("*STB", query=lambda c: str(self.status_byte()))
        self.add("SYSTem:ERRor[:NEXT]", query=lambda c: self.errors.format_next())
        self.add("SYSTem:ERRor:COUNt", query=lambda c: str(len(self.errors)))
        self.add("SYSTem:VERSion", query=lambda c: "1999.0")

    # -- status -----------------------------------------------------------------------
    def push_error(self, code: int, detail: str | None = None) -> None:
        """Queue an error (also for instrument events outside a command) and flag the ESR."""
        err = SCPIError(code, detail)
        self.errors.push(err.code, err.message)
        if -199 <= code <= -100:
            self._set_esr(ESR_CME)
        elif -299 <= code <= -200:
            self._set_esr(ESR_EXE)
        elif -399 <= code <= -300 or code > 0:
            self._set_esr(ESR_DDE)
        elif -499 <= code <= -400:
            self._set_esr(ESR_QYE)

    def clear_status(self) -> None:
        """``*CLS``: empty the error queue, clear the ESR, then the instrument's hook."""
        self.errors.clear()
        self.esr = 0
        if self._on_clear is not None:
            self._on_clear()

    def status_byte(self) -> int:
        """IEEE 488.2 status byte: bit 2 error queue not empty, bit 5 ESB."""
        stb = 4 if len(self.errors) else 0
        if self.esr & self.ese:
            stb |= 32
        return stb

    def _set_esr(self, bit: int) -> None:
        self.esr |= bit

    def _read_esr(self) -> int:
        value, self.esr = self.esr, 0
        return value

    def _set_ese(self, call: Call) -> None:
        call.expect(1)
        self.ese = int(number(call.args[0], minimum=0, maximum=255))

    # -- executing --------------------------------------------------------------------
    def execute(self, line: str) -> str | None:
        """Run one program message; return the response message (without terminator)."""
        replies: list[str] = []
        path: list[tuple[str, str]] = []
        try:
            units = _split_outside_quotes(line.strip(), ";")
        except SCPIError as err:
            self.push_error(err.code, err.detail)
            return None
        for unit in units:
            unit = unit.strip()
            if not unit:
                if len(units) > 1:
                    self.push_error(-102, "empty command")
                    break
                continue
            try:
                reply, path = self._execute_unit(unit, path)
            except SCPIError as err:
                self.push_error(err.code, err.detail)
                if -199 <= err.code <= -100:
                    break
                continue
            if reply is not None:
                replies.append(str(reply))
        return ";".join(replies) if replies else None

    def _execute_unit(self, unit: str, path: list[tuple[str, str]]):
        parts = unit.split(None, 1)
        header = parts[0]
        args: tuple[str, ...] = ()
        if len(parts) > 1:
            raw = _split_outside_quotes(parts[1], ",")
            args = tuple(a.strip() for a in raw)
            if any(not a for a in args):
                raise SCPIError(-102, f"empty parameter in {unit!r}")
        query = header.endswith("?")
        name = header[:-1] if query else header
        if "?" in name:
            raise SCPIError(-102, f"misplaced '?' in {header!r}")
        call_header = name
        if name.startswith("*"):
            handlers = self._common.get(name.upper())
            if handlers is None:
                raise SCPIError(-113, header)
            return self._dispatch(handlers, Call(call_header, args, query), header), path
        absolute = name.startswith(":")
        body = name[1:] if absolute else name
        tokens = []
        for piece in body.split(":"):
            m = _HEADER_TOKEN.fullmatch(piece)
            if m is None:
                raise SCPIError(-102, f"bad header {header!r}")
            tokens.append((m.group(1), m.group(2)))
        candidates = [tokens] if absolute or not path else [path + tokens, tokens]
        for toks in candidates:
            for _pattern, nodes, set_h, query_h in self._commands:
                captured = _match(nodes, toks)
                if captured is not None:
                    call = Call(call_header, args, query, tuple(captured))
                    return self._dispatch((set_h, query_h), call, header), toks[:-1]
        raise SCPIError(-113, header)

    @staticmethod
    def _dispatch(handlers, call: Call, header: str):
        set_h, query_h = handlers
        if call.query:
            if query_h is None:
                raise SCPIError(-100, f"{header} has no query form")
            return query_h(call)
        if set_h is None:
            raise SCPIError(-100, f"{header} is a query only")
        set_h(call)
        return None


# -- parameter parsing (for handlers) --------------------------------------------------
_NUMBER = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)")
_MULTIPLIERS = {"": 1.0, "N": 1e-9, "U": 1e-6, "M": 1e-3, "K": 1e3, "MA": 1e6}


def number(
    token: str,
    *,
    units: Sequence[str] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    default: float | None = None,
) -> float:
    """Parse a numeric parameter: decimal, ``MIN``/``MAX``/``DEF``, optional unit suffix.

    ``units`` lists the accepted suffixes (e.g. ``("A",)``, ``("C", "CEL")``) which may
    carry an SI multiplier (``MA`` = milliampere for unit ``A``).  A value outside
    ``[minimum, maximum]`` is error -222 (handlers that clamp pass no bounds).
    """
    word = token.strip().upper()
    for keyword, value in (("MINimum", minimum), ("MAXimum", maximum), ("DEFault", default)):
        if match_mnemonic(word, keyword):
            if value is None:
                raise SCPIError(-224, f"{keyword.upper()} not defined here")
            return float(value)
    m = _NUMBER.fullmatch(token.strip())
    if m is None:
        raise SCPIError(-104, f"not a number: {token!r}")
    value = float(m.group(1))
    suffix = m.group(2).upper()
    if suffix:
        if not units:
            raise SCPIError(-138, token)
        for unit in sorted(units, key=len, reverse=True):
            unit = unit.upper()
            if suffix.endswith(unit) and suffix[: -len(unit)] in _MULTIPLIERS:
                value *= _MULTIPLIERS[suffix[: -len(unit)]]
                break
        else:
            raise SCPIError(-131, token)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SCPIError(
            -222,
            f"{value:g} outside [{minimum:g}, {maximum:g}]"
            if minimum is not None and maximum is not None
            else f"{value:g}",
        )
    return value


def boolean(token: str) -> bool:
    """``ON``/``OFF``/``1``/``0`` (a number is rounded: non-zero is true)."""
    word = token.strip().upper()
    if word == "ON":
        return True
    if word == "OFF":
        return False
    try:
        return round(float(word)) != 0
    except ValueError:
        raise SCPIError(-104, f"not a boolean: {token!r}") from None


def choice(token: str, options: Sequence[str]) -> str:
    """Match a character parameter against mnemonics (``CURRent``); returns the option."""
    for option in options:
        if match_mnemonic(token.strip(), option):
            return option
    raise SCPIError(-224, f"{token!r} not one of {', '.join(options)}")


def format_number(value: float) -> str:
    """NR3 reply format used by the emulators: ``1.500000E+00``."""
    return f"{value:.6E}"


def format_bool(value: bool) -> str:
    return "1" if value else "0"
