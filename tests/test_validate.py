"""``labctl validate``: every broken example is rejected with what and where; good files pass."""

import re
from pathlib import Path

import pytest

from labctl.app.cli import main as labctl_main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BROKEN = sorted((EXAMPLES / "broken").glob("*.yaml"))


def expectation(path: Path) -> tuple[str, str]:
    """The ``# expect:`` and ``# where:`` comments at the top of a broken example."""
    head = path.read_text().splitlines()[:4]
    expect = next(line.split(":", 1)[1].strip() for line in head if line.startswith("# expect:"))
    where = next(line.split(":", 1)[1].strip() for line in head if line.startswith("# where:"))
    return expect, where


def test_there_are_at_least_ten_broken_bench_and_protocol_files():
    kinds = {p.name.split("-", 1)[0] for p in BROKEN}
    assert len(BROKEN) >= 10 and kinds == {"bench", "protocol"}


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_file_is_rejected_with_problem_and_place(path, capsys):
    expect, where = expectation(path)
    code = labctl_main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert str(path) in err, err
    assert expect in err, err
    # "line N" and, if given, "key a.b.c" in the same message line
    line = re.search(r"line (\d+)", where).group(1)
    key = re.search(r"key (\S+)", where)
    target = f", line {line}" + (f", key {key.group(1)}" if key else "")
    assert target in err, err


def test_several_files_each_get_a_verdict(capsys):
    good = EXAMPLES / "benches" / "sim-vial.yaml"
    bad = EXAMPLES / "broken" / "bench-duplicate-role.yaml"
    code = labctl_main(["validate", str(good), str(bad)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "valid bench file 'sim-vial'" in out
    assert "channel roles must be unique" in err


@pytest.mark.parametrize(
    "name",
    ["sar-vial.yaml", "magnetic-hyperthermia-43C.yaml", "photothermal-conversion-efficiency.yaml"],
)
def test_example_protocols_are_valid_and_checked_against_limits(name, capsys):
    code = labctl_main(["validate", str(EXAMPLES / "protocols" / name)])
    out = capsys.readouterr().out
    assert code == 0
    assert "valid protocol file" in out
    assert "setpoints within the limits of bench" in out


def test_a_bench_file_is_told_from_a_protocol_file(capsys):
    assert labctl_main(["validate", str(EXAMPLES / "benches" / "real-bench.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid bench file 'lab-bench-1' (real)" in out
    assert "its simulated twin builds" in out


def test_neither_kind_is_named(tmp_path, capsys):
    p = tmp_path / "notes.yaml"
    p.write_text("title: not a labctl file\n")
    assert labctl_main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "neither a bench file" in err and "devices:" in err and "steps:" in err
