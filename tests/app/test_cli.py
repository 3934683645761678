"""The ``labctl`` command as a person uses it: help, run, runs/show/report/recover, devices."""

import re
from pathlib import Path

import pytest
import yaml

from labctl.app.cli import build_parser, main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BENCHES = EXAMPLES / "benches"

#: each example protocol with its durations cut so the whole set runs in seconds
SHORT = {
    "magnetic-hyperthermia-43C.yaml": {"target": 38.0, "hold": 20},
    "sar-vial.yaml": {"heat_time": 100, "cool_time": 20},
    "photothermal-therapy-808nm.yaml": {"duration": 40},
    "photothermal-conversion-efficiency.yaml": {"heat_time": 300, "cool_time": 400, "period": 4.0},
    "multispectral-optoacoustic.yaml": {"averages": 1},
    "image-guided-hyperthermia.yaml": {
        "target": 38.0,
        "hold": 20,
        "thermometry_period": 10,
        "wavelengths": [700, 730, 760, 800, 850, 900],
    },
}


def short_protocol(tmp_path: Path, name: str, **extra) -> Path:
    """A copy of an example protocol with shorter durations and an absolute bench path."""
    data = yaml.safe_load((EXAMPLES / "protocols" / name).read_text())
    data["bench"] = str((EXAMPLES / "protocols" / data["bench"]).resolve())
    data["steps"][0]["args"].update(SHORT[name], **extra)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = [[n] for n in sub.choices]
    names.append(["sim", "serve"])
    return names


@pytest.mark.parametrize("words", subcommands(), ids=" ".join)
def test_every_command_has_help(words, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*words, "--help"])
    assert exc.value.code == 0
    assert f"usage: labctl {' '.join(words)}" in capsys.readouterr().out


def test_the_top_level_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in (
        "run",
        "shell",
        "sim",
        "devices",
        "runs",
        "show",
        "report",
        "recover",
        "validate",
    ):
        assert re.search(rf"^\s+{command}\s", out, re.M), command
    assert "Exit codes" in out


@pytest.fixture(scope="module")
def mh_run(tmp_path_factory):
    """One short hyperthermia run through ``labctl run``: (data dir, stdout)."""
    tmp = tmp_path_factory.mktemp("cli")
    protocol = short_protocol(tmp, "magnetic-hyperthermia-43C.yaml")
    capture = pytest.MonkeyPatch()
    import io
    import sys

    out = io.StringIO()
    capture.setattr(sys, "stdout", out)
    try:
        code = main(["run", str(protocol), "--sim", "--data-dir", str(tmp / "data")])
    finally:
        capture.undo()
    assert code == 0, out.getvalue()
    return tmp / "data", out.getvalue()


def test_run_prints_progress_results_and_where_the_data_is(mh_run):
    data_dir, out = mh_run
    lines = out.splitlines()
    assert lines[-1].startswith("run ") and ": success, data in " in lines[-1]
    store = Path(lines[-1].split("data in ", 1)[1])
    assert store.exists() and store.parent.parent == data_dir
    assert any(line.startswith("  ramp ") and "tumor" in line for line in lines)
    assert any("cem43_min = " in line for line in lines)
    assert len(lines) < 25  # short and readable when stdout is not a terminal
    assert "\r" not in out


def test_quiet_run_prints_one_line(tmp_path, capsys):
    protocol = short_protocol(tmp_path, "sar-vial.yaml")
    assert main(["run", str(protocol), "--sim", "--quiet", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and re.match(
        r"run [0-9a-f-]{36} \(sar_measurement\): success, "
        r"data in .*\.zarr$",
        out[0],
    )


def test_run_of_an_invalid_protocol_exits_2_without_traceback(tmp_path, capsys):
    protocol = short_protocol(tmp_path, "magnetic-hyperthermia-43C.yaml", max_field=30)
    assert main(["run", str(protocol), "--sim", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "LimitError" in err and "key steps.0.args.max_field" in err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*/*.zarr"))  # nothing ran


def test_a_safety_trip_exits_3_with_the_reason(tmp_path, capsys):
    bench = yaml.safe_load((BENCHES / "sim-vial.yaml").read_text())
    bench["devices"]["thermo"]["faults"] = [{"kind": "probe_broken", "role": "sample", "at_s": 60}]
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(bench))
    protocol = short_protocol(tmp_path, "sar-vial.yaml")
    code = main(
        [
            "run",
            str(protocol),
            "--bench",
            str(tmp_path / "bench.yaml"),
            "--sim",
            "--data-dir",
            str(tmp_path),
        ]
    )
    captured = capsys.readouterr()
    assert code == 3
    assert ": abort, data in " in captured.out
    assert "labctl: step 1 ended abort" in captured.err and "outputs are off" in captured.err
    assert "Traceback" not in captured.err


def test_runs_show_report_and_recover(mh_run, tmp_path, capsys):
    data_dir, out = mh_run
    uid = re.search(r"run ([0-9a-f-]{36})", out).group(1)
    assert main(["runs", str(data_dir)]) == 0
    listing = capsys.readouterr().out
    assert uid[:8] in listing and "magnetic_hyperthermia" in listing and "success" in listing
    assert main(["show", uid[:8], "--data-dir", str(data_dir)]) == 0
    shown = capsys.readouterr().out
    assert f"run {uid}" in shown and "animal_id    M01" in shown and "cem43_min = " in shown
    pytest.importorskip("matplotlib")
    assert main(["report", uid[:6], "--data-dir", str(data_dir), "-o", str(tmp_path)]) == 0
    reported = capsys.readouterr().out
    assert f"report: {tmp_path / 'index.html'}" in reported
    assert {p.name for p in tmp_path.glob("*.png")} == {
        "temperature.png",
        "output.png",
        "cem43.png",
    }
    assert main(["recover", uid, "--data-dir", str(data_dir)]) == 0
    assert "complete, nothing to recover" in capsys.readouterr().out


def test_an_unknown_run_is_a_clear_error(tmp_path, capsys):
    assert main(["show", "deadbeef", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "deadbeef: no such run store" in err and str(tmp_path) in err


def test_devices_on_the_simulated_twin(capsys):
    assert main(["devices", "--bench", str(BENCHES / "sim-vial.yaml")]) == 0
    out = capsys.readouterr().out
    assert "thermo (thermometer, neoptix_reflex) at sim://thermo: ok" in out
    assert re.search(r"channel 1 sample\s+2\d\.\d C, probe ok", out)
    assert "amf (amf, ambrell_easyheat) at sim://amf: ok" in out
    assert "status: heating off" in out and "faults: none" in out
    assert "identity: manufacturer Thorlabs" in out and "trips: none" in out


def test_devices_without_hardware_fail_one_by_one(tmp_path, capsys):
    bench = yaml.safe_load((BENCHES / "real-bench.yaml").read_text())
    # loopback ports where nothing listens: every connection is refused at once
    bench["devices"]["thermo"]["address"] = "socket://127.0.0.1:9"
    bench["devices"]["amf"]["address"] = "socket://127.0.0.1:9"
    bench["devices"]["laser"]["address"] = "visa://TCPIP0::127.0.0.1::9::SOCKET"
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(bench))
    assert main(["devices", "--bench", str(tmp_path / "bench.yaml")]) == 3
    captured = capsys.readouterr()
    assert captured.out.count(": FAILED") == 3
    assert "TransportError" in captured.out and "check the cable" in captured.out
    assert "3 device(s) did not answer" in captured.err
    assert "Traceback" not in captured.out + captured.err


@pytest.mark.parametrize(
    "name", [n for n in SHORT if n not in ("magnetic-hyperthermia-43C.yaml", "sar-vial.yaml")]
)
def test_every_example_protocol_runs(name, tmp_path, capsys):
    protocol = short_protocol(tmp_path, name)
    assert main(["run", str(protocol), "--sim", "--quiet", "--data-dir", str(tmp_path)]) == 0
    assert ": success, data in " in capsys.readouterr().out


def test_disk_full_during_a_run_switches_off_exits_3_and_leaves_a_recoverable_store(
    tmp_path, monkeypatch, capsys
):
    import errno

    from labctl.bench import Bench
    from labctl.data import read_run, recover
    from labctl.data.journal import Journal

    writes = {"n": 0}
    real_write = Journal.write

    def filling_up(self, name, doc):
        writes["n"] += 1
        if writes["n"] > 40:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, name, doc)

    monkeypatch.setattr(Journal, "write", filling_up)
    states = {}
    real_close = Bench.close

    def close_and_look(self):
        real_close(self)
        states.update(
            amf=self.twin.emulators["amf"].heating,
            laser=self.twin.emulators["laser"].emission_on,
        )

    monkeypatch.setattr(Bench, "close", close_and_look)
    protocol = short_protocol(tmp_path, "magnetic-hyperthermia-43C.yaml")
    code = main(["run", str(protocol), "--sim", "--quiet", "--data-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 3
    assert states == {"amf": False, "laser": False}
    assert "No space left on device" in err and "outputs are off" in err
    assert "Traceback" not in err
    monkeypatch.setattr(Journal, "write", real_write)
    (store,) = (tmp_path / "d").glob("*/*.zarr")
    report = recover(store)
    assert report.rows["primary"] >= 30  # every event journaled before the disk filled
    assert read_run(store).stop is not None


def test_data_dir_that_is_a_file_is_one_line_and_exit_2(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    protocol = short_protocol(tmp_path, "sar-vial.yaml")
    code = main(["run", str(protocol), "--sim", "--quiet", "--data-dir", str(afile)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"labctl: DataError: data_dir {str(afile)!r} is a file, not a directory"
    )


def test_a_device_that_does_not_answer_is_exit_3(tmp_path, capsys):
    data = yaml.safe_load((BENCHES / "sim-mouse.yaml").read_text())
    data["mode"] = "real"
    data["devices"] = {n: d for n, d in data["devices"].items() if n in ("thermo", "amf")}
    for port, dev in enumerate(data["devices"].values(), 9):
        dev["address"] = f"socket://127.0.0.1:{port}"  # nothing listens there
    bench = tmp_path / "dead.yaml"
    bench.write_text(yaml.safe_dump(data))
    code = main(
        [
            "run",
            str(short_protocol(tmp_path, "magnetic-hyperthermia-43C.yaml")),
            "--bench",
            str(bench),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("labctl: TransportError: cannot open socket://127.0.0.1:")
    assert len(err.strip().splitlines()) == 1
