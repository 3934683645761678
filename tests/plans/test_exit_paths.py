"""Every way a heating run can end leaves the AMF and laser off (asked of the emulators)
and keeps everything recorded before in the run's store."""

import threading

import pytest
from bluesky.utils import RunEngineInterrupted

from labctl.data import read_run
from labctl.plans import magnetic_hyperthermia, photothermal_therapy


def start_heating_run(bench, kind):
    if kind == "amf":
        return magnetic_hyperthermia(
            bench.amf, bench.thermo, target=43, hold=1800, frequency=230e3, max_field=12
        )
    return photothermal_therapy(
        bench.laser, bench.thermo, duration=1800, target=41.0, max_irradiance=0.5
    )


def pause_during_heating(bench, after_s=120.0):
    """Ask for a pause from the bench clock, as Ctrl-C at a prompt would, mid-heating."""
    t_pause = bench.clock.now() + after_s

    def maybe_pause():
        if bench.clock.now() >= t_pause and bench.RE.state == "running":
            # from another thread, as a Ctrl-C handler or an operator's console would
            threading.Thread(target=bench.RE.request_pause, kwargs={"defer": False}).start()
            task.cancel()

    task = bench.clock.call_every(1.0, maybe_pause, name="test-pause")


def assert_off_and_stored(bench):
    assert not bench.twin.emulators["amf"].heating
    assert not bench.twin.emulators["laser"].emission_on
    assert bench.twin.world.truth()["field_A_m"] == 0.0
    emitted = bench.docs.stream("primary")
    assert len(emitted) > 60  # heating had been going on for minutes
    run = read_run(bench.last_run_path)
    stored = run.stream("primary")
    assert stored.sizes["time"] == len(emitted)
    assert list(stored["thermo_tumor"].values) == [e["data"]["thermo_tumor"] for e in emitted]
    return run


@pytest.mark.parametrize("kind", ["amf", "laser"])
@pytest.mark.parametrize("how", ["abort", "halt", "stop"])
def test_pause_then_abort_halt_or_stop(mouse_bench, kind, how):
    bench = mouse_bench
    pause_during_heating(bench)
    with pytest.raises(RunEngineInterrupted):
        bench.RE(start_heating_run(bench, kind))
    assert bench.RE.state == "paused"
    # paused: the RunEngine has already stopped the devices it moved
    assert not bench.twin.emulators["amf"].heating
    assert not bench.twin.emulators["laser"].emission_on
    getattr(bench.RE, how)()
    run = assert_off_and_stored(bench)
    expected = {"abort": "abort", "halt": "abort", "stop": "success"}[how]
    assert run.stop["exit_status"] == expected


@pytest.mark.parametrize("kind", ["amf", "laser"])
def test_exception_inside_the_plan(mouse_bench, kind):
    bench = mouse_bench
    driver = bench.drivers["thermo"]
    real = driver.read_temperatures
    t_fail = bench.clock.now() + 120.0

    def failing(*args, **kwargs):
        if bench.clock.now() >= t_fail:
            raise RuntimeError("thermometer driver crashed")
        return real(*args, **kwargs)

    driver.read_temperatures = failing
    with pytest.raises(Exception, match="crashed|thermometer"):
        bench.RE(start_heating_run(bench, kind))
    driver.read_temperatures = real
    run = assert_off_and_stored(bench)
    assert run.stop["exit_status"] in ("fail", "abort")
