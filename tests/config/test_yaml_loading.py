"""Bounded YAML input: aliases refused before expansion, oversize files refused unread."""

from __future__ import annotations

import pytest

from labctl.config.yaml_loading import MAX_YAML_BYTES, load_yaml
from labctl.core.errors import ConfigError


def alias_bomb() -> str:
    """The "billion laughs": nine levels of nine aliases, 9**9 strings once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_the_alias_bomb_is_refused_at_its_first_alias(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert path.stat().st_size < 500
    with pytest.raises(ConfigError, match=r"bomb\.yaml, line 2: YAML aliases \(\*a\)"):
        load_yaml(path)


def test_a_single_alias_is_refused_too():
    with pytest.raises(ConfigError, match="line 2: YAML aliases"):
        load_yaml(text="limits: &l {field_max_kA_m: 12}\nother: *l\n")


def test_anchors_without_aliases_and_plain_files_still_load():
    doc = load_yaml(text="name: x\nlimits: &l {field_max_kA_m: 12}\n")
    assert doc.data["limits"] == {"field_max_kA_m": 12}


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "w") as f:
        f.write("name: big\n")
        f.write("# padding\n" * (MAX_YAML_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match=rf"big\.yaml: \d+ bytes; .* {MAX_YAML_BYTES} bytes"):
        load_yaml(path)


def test_text_over_the_size_limit_is_refused():
    with pytest.raises(ConfigError, match="longer than"):
        load_yaml(text="x: 1\n" + " " * MAX_YAML_BYTES)
