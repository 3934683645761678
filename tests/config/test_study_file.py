"""Study files: times, doses and errors that name the file, line and key."""

import textwrap

import pytest

from labctl.config.study_file import (
    load_study,
    parse_dose,
    parse_duration,
    parse_session_time,
)
from labctl.core.errors import ConfigError

MH = (
    "{plan: magnetic_hyperthermia, "
    "args: {target: 43.0, hold: 60, frequency: 230000, max_field: 10.0}}"
)
FL = "{plan: fluorescence_timecourse, args: {times_post_injection: [0]}}"
STUDY = """\
study: S1
bench: bench.yaml
groups: {pilot: {}, treated: {}}
subjects:
  - {id: M1, group: pilot, weight_g: 24.0}
  - {id: M2, group: treated}
administrations:
  - {agent: ICG nanoparticles, dose: 2 umol/kg, at: 0 h}
sessions:
  - {name: img, groups: [pilot], at: 24 h p.i., steps: [FL]}
  - {name: treat, groups: [treated], at: "@peak - 30 min p.i.", steps: [MH]}
decisions:
  - {name: peak, kind: peak_time, group: pilot, sessions: [img]}
""".replace("[FL]", f"[{FL}]").replace("[MH]", f"[{MH}]")


def write(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_durations_times_and_doses():
    assert parse_duration("24 h") == 86400.0
    assert parse_duration("90 min") == 5400.0
    assert parse_duration("2 d") == 172800.0
    assert parse_duration(30) == 30.0
    t = parse_session_time("24 h p.i.")
    assert (t.anchor, t.offset_s) == ("pi", 86400.0)
    t = parse_session_time("20 min after img-24h")
    assert (t.anchor, t.offset_s, t.ref) == ("session", 1200.0, "img-24h")
    t = parse_session_time("@peak - 30 min p.i.")
    assert (t.anchor, t.offset_s, t.ref) == ("decision", -1800.0, "peak")
    assert parse_dose("2 umol/kg") == (2.0, "umol/kg")
    for bad in ("soon", "nan h", "inf h"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    with pytest.raises(ValueError, match="unit"):
        parse_dose("2 blorps/kg")


def test_a_valid_study_loads_with_its_data_directory(tmp_path):
    sf = load_study(write(tmp_path, STUDY))
    assert sf.study.study == "S1"
    assert sf.data_dir == tmp_path / "data" / "S1"
    assert [s.id for s in sf.study.subjects] == ["M1", "M2"]
    assert sf.session("treat").at == "@peak - 30 min p.i."


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        (
            "{id: M2, group: treated}",
            "{id: M2, group: control}",
            "line 6, key subjects.1.group",
            "unknown group 'control'",
        ),
        (
            "sessions: [img]}",
            "sessions: [imaging]}",
            "line 13, key decisions.0.sessions.0",
            "unknown session 'imaging'",
        ),
        (
            "at: 24 h p.i.,",
            "at: -2 h p.i.,",
            "line 10, key sessions.0.at",
            "before its administration",
        ),
        (
            'at: "@peak - 30 min p.i."',
            'at: "@top p.i."',
            "line 11, key sessions.1.at",
            "unknown decision 'top'",
        ),
        ("weight_g: 24.0", "weight_g: .nan", "line 5, key subjects.0.weight_g", "finite"),
        (
            "dose: 2 umol/kg",
            "dose: 2 blorps/kg",
            "line 8, key administrations.0.dose",
            "unknown dose unit",
        ),
        (
            "steps: [" + MH + "]}",
            "protocol: missing.yaml}",
            "line 11, key sessions.1.protocol",
            "not found",
        ),
        (
            "groups: [treated], at",
            "groups: [treated], bogus: 1, at",
            "line 11, key sessions.1.bogus",
            "unknown key",
        ),
        (
            MH,
            MH.replace("thermia", "thermia_"),
            "line 11, key sessions.1.steps",
            "unknown plan 'magnetic_hyperthermia_'",
        ),
        (
            "times_post_injection: [0]",
            "times_post_injection: [0], bogus: 2",
            "line 10, key sessions.0.steps",
            "has no argument 'bogus'",
        ),
    ],
)
def test_bad_input_names_file_line_and_key(tmp_path, old, new, where, message):
    assert old in STUDY
    path = write(tmp_path, STUDY.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_study(path)
    text = str(err.value)
    assert str(path) in text and where in text and message in text, text


def test_a_threshold_rule_needs_one_group_more_than_cuts(tmp_path):
    text = STUDY.replace(
        "kind: peak_time, group: pilot, sessions: [img]}",
        "kind: thresholds, group: pilot, sessions: [img], cuts: [1.0, 2.0], assign: [pilot]}",
    )
    with pytest.raises(ConfigError, match=r"line 13, key decisions.0.assign: 2 cut\(s\) make 3"):
        load_study(write(tmp_path, text))
