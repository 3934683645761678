"""The reusable SCPI command-tree parser of the emulators."""

from __future__ import annotations

import pytest

from labctl.simulators.instruments.scpi import (
    Call,
    CommandTree,
    ErrorQueue,
    SCPIError,
    boolean,
    choice,
    format_number,
    match_mnemonic,
    number,
)


@pytest.fixture
def tree():
    """A small instrument: two outputs, a level with a limit, a captured channel suffix."""
    state = {"level": 1.0, "out1": False, "out2": False, "resets": 0, "clears": 0, "chan": {}}
    t = CommandTree(
        idn="ACME,MODEL1,SN1,1.0",
        on_reset=lambda: state.__setitem__("resets", state["resets"] + 1),
        on_clear=lambda: state.__setitem__("clears", state["clears"] + 1),
        queue_size=4,
    )

    def set_level(c: Call):
        c.expect(1)
        state["level"] = number(c.args[0], units=("A",), minimum=0, maximum=4, default=1)

    t.add(
        "SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]",
        set=set_level,
        query=lambda c: format_number(state["level"]),
    )
    t.add("SOURce[1]:CURRent:LIMit", query=lambda c: "4")
    t.add(
        "OUTPut[1][:STATe]",
        set=lambda c: state.__setitem__("out1", boolean(c.arg())),
        query=lambda c: str(int(state["out1"])),
    )
    t.add(
        "OUTPut2[:STATe]",
        set=lambda c: state.__setitem__("out2", boolean(c.arg())),
        query=lambda c: str(int(state["out2"])),
    )
    t.add(
        "CHANnel#:VALue",
        set=lambda c: state["chan"].__setitem__(c.suffixes[0], c.arg()),
        query=lambda c: state["chan"].get(c.suffixes[0], "none"),
    )
    t.add("MEASure[:SCALar]:POWer2", query=lambda c: "2")
    t.add("MEASure[:SCALar]:POWer[1]", query=lambda c: "1")
    t.add("FAIL", set=lambda c: (_ for _ in ()).throw(SCPIError(-221, "busy")))
    t.state = state
    return t


def errors(tree: CommandTree) -> list[str]:
    out = []
    while True:
        reply = tree.execute("SYST:ERR?")
        out.append(reply)
        if reply.startswith("+0,"):
            return out


def test_match_mnemonic_short_and_long_forms_only():
    assert match_mnemonic("SOUR", "SOURce")
    assert match_mnemonic("source", "SOURce")
    assert match_mnemonic("SoUrCe", "SOURce")
    assert not match_mnemonic("SOURC", "SOURce")
    assert not match_mnemonic("SOU", "SOURce")
    assert match_mnemonic("DC", "DC")


def test_optional_nodes_and_case_insensitivity(tree):
    for header in (
        "SOUR:CURR",
        "sour:curr",
        "SOURCE1:CURRENT:LEVEL:IMMEDIATE:AMPLITUDE",
        "SOUR:CURR:AMPL",
        ":SOUR1:CURR:LEV",
    ):
        tree.execute(f"{header} 2.5")
        assert tree.execute(f"{header}?") == "2.500000E+00"
        tree.execute(f"{header} 1")
    assert errors(tree) == ['+0,"No error"']


def test_numeric_suffixes_fixed_default_and_captured(tree):
    tree.execute("OUTP ON")
    assert tree.state["out1"] and not tree.state["out2"]
    tree.execute("OUTP1:STAT OFF;:OUTP2 1")
    assert not tree.state["out1"] and tree.state["out2"]
    assert tree.execute("OUTP?;:OUTP2:STAT?") == "0;1"
    tree.execute("CHAN3:VAL x;:CHAN:VAL y")
    assert tree.state["chan"] == {3: "x", 1: "y"}
    assert tree.execute("MEAS:POW?;:MEAS:POW1?;:MEAS:SCAL:POW2?") == "1;1;2"
    tree.execute("OUTP3 ON")
    assert errors(tree) == ['-113,"Undefined header;OUTP3"', '+0,"No error"']


def test_min_max_def_and_unit_suffixes(tree):
    tree.execute("SOUR:CURR MAX")
    assert tree.state["level"] == 4.0
    tree.execute("SOUR:CURR minimum")
    assert tree.state["level"] == 0.0
    tree.execute("SOUR:CURR DEF")
    assert tree.state["level"] == 1.0
    tree.execute("SOUR:CURR 1500MA")
    assert tree.state["level"] == pytest.approx(1.5)
    tree.execute("SOUR:CURR 2.5 A")
    assert tree.state["level"] == 2.5
    assert errors(tree) == ['+0,"No error"']


def test_number_parser():
    assert number("1e-3") == 1e-3
    assert number("+.5") == 0.5
    assert number("250UA", units=("A",)) == pytest.approx(250e-6)
    assert number("25C", units=("C", "CEL")) == 25.0
    assert number("MAX", maximum=7) == 7
    for token, units, code in (
        ("abc", (), -104),
        ("1V", (), -138),
        ("1V", ("A",), -131),
        ("9", (), None),
        ("MIN", (), -224),
    ):
        if code is None:
            with pytest.raises(SCPIError) as info:
                number(token, minimum=0, maximum=4)
            assert info.value.code == -222
            continue
        with pytest.raises(SCPIError) as info:
            number(token, units=units)
        assert info.value.code == code


def test_boolean_and_choice():
    assert boolean("ON") and boolean("1") and boolean("0.7")
    assert not boolean("off") and not boolean("0")
    with pytest.raises(SCPIError):
        boolean("maybe")
    assert choice("curr", ("CURRent", "POWer")) == "CURRent"
    assert choice("POWER", ("CURRent", "POWer")) == "POWer"
    with pytest.raises(SCPIError) as info:
        choice("VOLT", ("CURRent", "POWer"))
    assert info.value.code == -224


def test_error_codes(tree):
    tree.execute("FOO:BAR 1")  # -113
    tree.execute("SOUR:C%RR 1")  # -102
    tree.execute("SOUR:CURR 9")  # -222
    assert errors(tree) == [
        '-113,"Undefined header;FOO:BAR"',
        "-102,\"Syntax error;bad header 'SOUR:C%RR'\"",
        '-222,"Data out of range;9 outside [0, 4]"',
        '+0,"No error"',
    ]
    tree.execute("MEAS:POW2 1")  # query-only header used as a setting
    tree.execute("SOUR:CURR 1,2")  # too many parameters
    tree.execute("SOUR:CURR")  # missing parameter
    tree.execute('SOUR:CURR "1')  # unterminated string
    codes = [int(e.split(",")[0]) for e in errors(tree)]
    assert codes == [-100, -108, -109, -102, 0]
    assert tree.execute("SYST:ERR?") == '+0,"No error"'
    assert tree.state["level"] == 1.0


def test_queue_overflow_replaces_newest_with_350():
    queue = ErrorQueue(3)
    for code in (-113, -102, -222, -100, -100):
        queue.push(code, "x")
    assert len(queue) == 3
    assert [queue.format_next() for _ in range(4)] == [
        '-113,"x"',
        '-102,"x"',
        '-350,"Queue overflow"',
        '+0,"No error"',
    ]


def test_queue_overflow_through_the_tree(tree):
    for _ in range(6):
        tree.execute("NOPE")
    assert tree.execute("SYST:ERR:COUN?") == "4"
    assert errors(tree)[-2:] == ['-350,"Queue overflow"', '+0,"No error"']


def test_compound_line_relative_path_and_root(tree):
    # relative to SOUR: after SOUR:CURR?, "CURR:LIM?" resolves to SOUR:CURR:LIM?
    assert tree.execute("SOUR:CURR 2;CURR?;CURR:LIM?") == "2.000000E+00;4"
    # a common command does not change the path
    assert tree.execute("SOUR:CURR?;*OPC?;CURR:LIM?") == "2.000000E+00;1;4"
    # leading colon restarts at the root; lenient fallback from the root
    assert tree.execute("SOUR:CURR?;:OUTP2?;OUTP2?") == "2.000000E+00;0;0"
    assert errors(tree) == ['+0,"No error"']


def test_command_error_discards_rest_of_line_execution_error_does_not(tree):
    assert tree.execute("FOO;SOUR:CURR 3") is None
    assert tree.state["level"] == 1.0
    assert tree.execute("FAIL;:SOUR:CURR 3;CURR?") == "3.000000E+00"
    assert errors(tree) == [
        '-113,"Undefined header;FOO"',
        '-221,"Settings conflict;busy"',
        '+0,"No error"',
    ]


def test_common_commands_and_status(tree):
    assert tree.execute("*IDN?") == "ACME,MODEL1,SN1,1.0"
    assert tree.execute("*idn?") == "ACME,MODEL1,SN1,1.0"
    assert tree.execute("*OPC?") == "1"
    assert tree.execute("*TST?") == "0"
    tree.execute("*RST")
    assert tree.state["resets"] == 1
    tree.execute("*ESE 36")
    tree.execute("NOPE")  # command error: CME (32)
    assert tree.execute("*STB?") == str(4 | 32)  # error queue not empty + ESB
    assert tree.execute("*ESR?") == "32"
    assert tree.execute("*ESR?") == "0"
    tree.execute("FAIL")  # execution error: EXE (16)
    tree.execute("*CLS")
    assert tree.state["clears"] == 1
    assert tree.execute("*ESR?") == "0"
    assert tree.execute("SYST:ERR?") == '+0,"No error"'
    tree.execute("*FOO?")
    assert errors(tree) == ['-113,"Undefined header;*FOO?"', '+0,"No error"']
    assert tree.execute("SYST:VERS?") == "1999.0"


def test_idn_may_be_callable():
    t = CommandTree(idn=lambda: "A,B,C,D")
    assert t.execute("*IDN?") == "A,B,C,D"


def test_blank_lines_are_ignored_but_empty_units_are_syntax_errors(tree):
    assert tree.execute("   ") is None
    assert tree.execute("SOUR:CURR?;;SOUR:CURR?") == "1.000000E+00"
    assert errors(tree) == ['-102,"Syntax error;empty command"', '+0,"No error"']


def test_bad_pattern_is_rejected():
    t = CommandTree(idn="x")
    with pytest.raises(ValueError):
        t.add("SOUR::CURR", query=lambda c: "1")
    with pytest.raises(ValueError):
        t.add("SOUR")
