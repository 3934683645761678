"""Speed of the sample models relative to real time.

Run: ``python benchmarks/bench_sample_model.py``.  Prints, for 30 minutes of AMF heating
(230 kHz, 8 kA/m) of the default mouse-flank tumor, the wall time and the ratio of
simulated to wall time when the model is advanced in 1 s calls (as the 1 Hz control loop
drives it, with and without a temperature read per call) and in one 1800 s call, plus
the accuracy of the default time step against a fine-step reference.
"""

from __future__ import annotations

import time

from labctl.simulators.physics.tumor import MouseTumor, TumorParams
from labctl.simulators.physics.vial import Vial

DURATION_S = 1800.0
REPEATS = 5


def _heated(model_cls=MouseTumor, **params):
    m = model_cls(TumorParams(**params)) if model_cls is MouseTumor else model_cls()
    m.set_amf(230e3, 8e3)
    return m


def _best(run) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        m = run.setup()
        t0 = time.perf_counter()
        run(m)
        best = min(best, time.perf_counter() - t0)
    return best


class _Case:
    def __init__(self, name, setup, body):
        self.name, self.setup, self.body = name, setup, body

    def __call__(self, m):
        self.body(m)


def _one_second_calls(m):
    for _ in range(int(DURATION_S)):
        m.advance(1.0)


def _one_second_calls_with_read(m):
    for _ in range(int(DURATION_S)):
        m.advance(1.0)
        m.temperature("tumor")


def _single_call(m):
    m.advance(DURATION_S)


def main() -> None:
    t0 = time.perf_counter()
    mouse = MouseTumor()
    build = time.perf_counter() - t0
    print(
        f"mouse tumor: {mouse.grid.nr} x {mouse.grid.nz} grid + core node "
        f"({mouse.solver.size} unknowns), built in {build * 1e3:.1f} ms, "
        f"max step {mouse.params.max_step_s} s"
    )
    cases = [
        _Case("mouse, 1800 x advance(1 s)", _heated, _one_second_calls),
        _Case("mouse, 1800 x (advance(1 s) + read)", _heated, _one_second_calls_with_read),
        _Case("mouse, 1 x advance(1800 s)", _heated, _single_call),
        _Case("vial,  1800 x advance(1 s)", lambda: _heated(Vial), _one_second_calls),
    ]
    for case in cases:
        wall = _best(case)
        print(f"{case.name:40s} {wall * 1e3:8.1f} ms  {DURATION_S / wall:10.0f} x real time")

    probes = ("tumor", "tumor_edge", "skin", "rectal")
    for t_check in (10.0, 120.0, DURATION_S):
        ref = _heated(max_step_s=0.125)
        ref.advance(t_check)
        for call in (1.0, t_check):
            m = _heated()
            for _ in range(round(t_check / call)):
                m.advance(call)
            err = max(abs(m.temperature(p) - ref.temperature(p)) for p in probes)
            print(
                f"accuracy at t = {t_check:4.0f} s in {call:4.0f} s calls: "
                f"max |T - T_ref(0.125 s steps)| = {err:.1e} C "
                f"(tumor {m.temperature('tumor'):.2f} C)"
            )


if __name__ == "__main__":
    main()
