"""The simulated mouse bench end to end: devices, emulators and physics together."""

from pathlib import Path

import bluesky.plan_stubs as bps
import pytest

from labctl.bench import Bench
from labctl.core.errors import LimitError

BENCHES = Path(__file__).resolve().parents[2] / "examples" / "benches"


@pytest.fixture
def mouse(tmp_path):
    bench = Bench.from_file(BENCHES / "sim-mouse.yaml", data_dir=tmp_path)
    yield bench
    bench.close()


def test_bench_exposes_devices_clock_and_runengine(mouse):
    assert {"thermo", "amf", "laser"} <= set(mouse.devices)
    assert mouse.thermo is mouse.devices["thermo"]
    assert mouse.clock.kind == "sim-lockstep"
    assert any("output set off at start-up" in m for m in mouse.messages)
    assert mouse.thermo.tumor.describe()["thermo_tumor"]["units"] == "degC"
    assert mouse.amf.field.describe()["amf_field"]["units"] == "kA/m"
    assert mouse.laser.power.describe()["laser_power"]["units"] == "W"


def test_ten_minutes_at_230kHz_8kAm_heats_tumor_far_more_than_core(mouse):
    tumor0, rectal0 = mouse.thermo.tumor.get(), mouse.thermo.rectal.get()

    def heat():
        yield from bps.mv(mouse.amf.frequency, 230e3)
        yield from bps.mv(mouse.amf.field, 8.0)
        yield from bps.mv(mouse.amf.output, 1)
        yield from bps.sleep(600)
        yield from bps.mv(mouse.amf.output, 0)

    t0 = mouse.clock.now()
    mouse.RE(heat())
    assert mouse.clock.now() - t0 >= 600
    tumor, rectal = mouse.thermo.tumor.get(), mouse.thermo.rectal.get()
    assert tumor - tumor0 > 4.0  # the model: ~6 C in 10 min at 8 kA/m
    assert rectal - rectal0 < 1.0
    assert (tumor - tumor0) > 5 * (rectal - rectal0)
    assert not mouse.twin.emulators["amf"].heating


def test_hf_limit_refused_before_any_byte(mouse):
    log = mouse.transports["amf"].log
    mouse.RE(bps.mv(mouse.amf.frequency, 354e3))
    log.clear()
    with pytest.raises(LimitError, match="H\\*f"):
        mouse.amf.field.set(15.0)
    assert log.sent() == []


def test_close_leaves_outputs_off_and_is_idempotent(mouse):
    mouse.amf.frequency.set(230e3).wait(5)
    mouse.amf.field.set(5.0).wait(5)
    mouse.amf.output.set(1).wait(5)  # directly, as at an IPython prompt
    assert mouse.twin.emulators["amf"].heating
    mouse.close()
    mouse.close()
    assert not mouse.twin.emulators["amf"].heating
    assert not mouse.twin.emulators["laser"].emission_on


def test_a_simulated_run_records_the_sample_the_model_simulates(mouse):
    import bluesky.plans as bp

    starts = []
    mouse.RE.subscribe(lambda name, doc: starts.append(doc) if name == "start" else None)
    mouse.RE(bp.count([mouse.thermo]))
    sample = starts[0]["sample"]
    particle = mouse.twin.sample.params.particle
    assert f"core {particle.core_diameter_m * 1e9:g} nm" in sample["nanoparticle"]
    assert "simulated" in sample["source"]
    # the tumor's temperature field is a device, marked as simulation-only ground truth
    assert mouse.tumor_map.simulation_only.get() is True
