"""The catalog location file: data directories found from any working directory."""

import json

from labctl.data.locations import catalog_file, known_data_dirs, register_data_dir


def test_registered_directories_are_found_once_and_only_if_they_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("LABCTL_CATALOG", str(tmp_path / "cfg" / "catalog.json"))
    assert catalog_file() == tmp_path / "cfg" / "catalog.json"
    assert known_data_dirs() == []
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.chdir(tmp_path)
    register_data_dir("a")
    register_data_dir(a)
    register_data_dir(b)
    assert known_data_dirs() == [a.resolve(), b.resolve()]
    b.rmdir()
    assert known_data_dirs() == [a.resolve()]
    assert json.loads(catalog_file().read_text())["data_dirs"][0] == str(a.resolve())


def test_a_broken_catalog_file_is_ignored_not_fatal(tmp_path, monkeypatch):
    path = tmp_path / "catalog.json"
    path.write_text("{not json")
    monkeypatch.setenv("LABCTL_CATALOG", str(path))
    assert known_data_dirs() == []
    register_data_dir(tmp_path)
    assert known_data_dirs() == [tmp_path.resolve()]


def test_without_the_variable_the_file_is_in_the_user_config_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("LABCTL_CATALOG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert catalog_file() == tmp_path / "labctl" / "catalog.json"
