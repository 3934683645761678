import time

import bluesky.plan_stubs as bps
import pytest
from bluesky import RunEngine

from labctl.core.clock import SimClock, WallClock, install_sleep_handler
from labctl.core.errors import ConfigError


def test_lockstep_time_moves_only_when_advanced():
    clock = SimClock("lockstep", start=1000.0)
    assert clock.now() == 1000.0
    clock.sleep(60)
    assert clock.now() == pytest.approx(1060.0)
    assert clock.elapsed == pytest.approx(60.0)


def test_lockstep_periodic_tasks_fire_at_their_virtual_times():
    clock = SimClock("lockstep", start=0.0)
    fired = []
    clock.call_every(2.0, lambda: fired.append(clock.now()), name="t")
    clock.advance(7.0)
    assert fired == [2.0, 4.0, 6.0]
    assert clock.now() == 7.0


def test_lockstep_tasks_interleave_in_time_order_and_cancel():
    clock = SimClock("lockstep", start=0.0)
    seen = []
    a = clock.call_every(1.5, lambda: seen.append(("a", clock.now())))
    clock.call_every(1.0, lambda: seen.append(("b", clock.now())))
    clock.advance(3.0)
    assert seen == [("b", 1.0), ("a", 1.5), ("b", 2.0), ("a", 3.0), ("b", 3.0)]
    a.cancel()
    seen.clear()
    clock.advance(2.0)
    assert seen == [("b", 4.0), ("b", 5.0)]


def test_task_errors_are_kept_not_raised():
    clock = SimClock("lockstep", start=0.0)

    def boom():
        raise RuntimeError("bad task")

    task = clock.call_every(1.0, boom)
    clock.advance(2.5)
    assert len(task.errors) == 2


def test_wait_until_advances_virtual_time():
    clock = SimClock("lockstep", start=0.0)
    assert clock.wait_until(lambda: clock.now() >= 12.0, timeout_s=30, poll_s=0.5)
    assert clock.now() == pytest.approx(12.0)
    assert not clock.wait_until(lambda: False, timeout_s=5, poll_s=1)
    assert clock.now() == pytest.approx(17.0)


def test_realtime_clock_runs_at_speed():
    clock = SimClock("realtime", speed=1000.0)
    t0 = clock.now()
    time.sleep(0.02)
    assert clock.now() - t0 >= 10.0  # 20 ms of wall time is >= 10 s virtual


def test_realtime_periodic_task_runs_on_a_thread():
    clock = SimClock("realtime", speed=100.0)
    hits = []
    task = clock.call_every(1.0, lambda: hits.append(1))
    deadline = time.monotonic() + 2.0
    while len(hits) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    task.cancel()
    assert len(hits) >= 3


def test_bad_clock_settings_are_config_errors():
    with pytest.raises(ConfigError, match="mode"):
        SimClock("fast")
    with pytest.raises(ConfigError, match="speed"):
        SimClock("realtime", speed=0)
    with pytest.raises(ConfigError, match="period"):
        SimClock().call_every(0, lambda: None)


def test_advance_rejects_negative_and_realtime():
    with pytest.raises(ValueError):
        SimClock().advance(-1)
    with pytest.raises(RuntimeError):
        SimClock("realtime").advance(1)


def test_runengine_sleep_advances_lockstep_clock_exactly():
    clock = SimClock("lockstep", start=0.0)
    RE = RunEngine({}, context_managers=[])
    install_sleep_handler(RE, clock)

    def plan():
        for _ in range(30):
            yield from bps.sleep(60)

    t0 = time.monotonic()
    RE(plan())
    assert clock.now() == pytest.approx(1800.0)
    assert time.monotonic() - t0 < 30  # 30 virtual minutes did not take 30 real ones


def test_wall_clock_is_wall_time():
    clock = WallClock()
    assert abs(clock.now() - time.time()) < 1.0
    assert clock.describe()["kind"] == "wall"
