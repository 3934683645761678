"""``--md key=value`` parsing and the study subcommands' argument checks."""

import pytest

from labctl.app.cli import main
from labctl.app.study_commands import parse_md
from labctl.core.errors import ConfigError


def test_md_values_are_yaml_scalars_and_bad_ones_are_refused():
    md = parse_md(["subject=M03", "weight_g=24.5", "n=3", "note=a b", "empty="])
    assert md == {"subject": "M03", "weight_g": 24.5, "n": 3, "note": "a b", "empty": ""}
    assert parse_md(["x=[1, 2]"]) == {"x": "[1, 2]"}
    for bad in (["novalue"], ["bad key=1"], ["t=.nan"], ["t=.inf"]):
        with pytest.raises(ConfigError):
            parse_md(bad)


def test_study_run_needs_to_be_told_what_to_run(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(
        "study: S\ngroups: {g: {}}\nsubjects: [{id: M1, group: g}]\n"
        "administrations: [{agent: x, dose: 1 mg/kg}]\n"
        "sessions: [{name: a, at: 1 h p.i., steps: "
        "[{plan: fluorescence_timecourse, args: {times_post_injection: [0]}}]}]\n"
    )
    assert main(["study", "run", str(path)]) == 2
    assert "--sim, --next" in capsys.readouterr().err
    assert main(["study", "run", str(path), "--session", "a"]) == 2
    assert main(["study", "run", str(path), "--session", "a", "--subject", "M9"]) == 2
    assert "no subject 'M9'" in capsys.readouterr().err
    assert main(["study", "status", str(path)]) == 0
    out = capsys.readouterr().out
    assert "M1 (g)" in out and "pending" in out and "t =    1.00 h (1.00 h p.i.)" in out
    assert main(["export", "--format", "csv", "-o", str(tmp_path / "x.csv")]) == 2
