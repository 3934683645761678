"""Closed-loop hyperthermia in lockstep simulation: speed over real time, and memory.

    python benchmarks/bench_hyperthermia.py            # both measurements
    python benchmarks/bench_hyperthermia.py --virtual-s 1800 --child   # one run (internal)

Prints (1) the wall time of a 30-minute, 1 Hz closed-loop run (tumor held at 43 C,
the zarr writer subscribed, the safety monitor checking every 0.5 s) as a speed-up over
real time (target >= 200x): the median of ``--repeat`` runs, each in a fresh process,
since this shared machine's speed drifts by +-15 % from run to run; and (2) the peak
resident memory of a 4-hour virtual run beside a 30-minute one (target: flat, nothing
grows with run length but the store on disk).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "examples" / "benches" / "sim-mouse.yaml"


def run_once(virtual_s: float, data_dir: str) -> dict:
    from labctl.bench import Bench
    from labctl.plans import magnetic_hyperthermia

    with Bench.from_file(BENCH, data_dir=data_dir) as bench:
        steps = [0]
        bench.RE.subscribe(lambda name, doc: steps.__setitem__(0, steps[0] + (name == "event")))
        t0 = bench.clock.now()
        wall0 = time.perf_counter()
        # ~10 virtual minutes to reach 43 C, then hold for the rest
        bench.RE(
            magnetic_hyperthermia(
                bench.amf,
                bench.thermo,
                target=43.0,
                hold=max(virtual_s - 600.0, 60.0),
                frequency=230e3,
                max_field=12.0,
            )
        )
        wall = time.perf_counter() - wall0
        virtual = bench.clock.now() - t0
    peak_kB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"virtual_s": virtual, "wall_s": wall, "peak_MB": peak_kB / 1024.0, "steps": steps[0]}


def child(virtual_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--virtual-s", str(virtual_s), "--data-dir", tmp],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--virtual-s", type=float, default=1800.0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeat", type=int, default=5, help="30-min runs (median)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.virtual_s, args.data_dir)))
        return
    runs = [child(1800.0) for _ in range(args.repeat)]
    speeds = sorted(r["virtual_s"] / r["wall_s"] for r in runs)
    speed = statistics.median(speeds)
    short = runs[0]
    print(
        f"30-min closed-loop hyperthermia (1 Hz, writer and safety monitor on): "
        f"{short['virtual_s']:.0f} s virtual, {short['steps']} events; speed-up over real "
        f"time, median of {len(runs)} runs: {speed:,.0f}x (runs: "
        f"{', '.join(f'{v:.0f}' for v in speeds)}; {1e3 * short['wall_s'] / short['steps']:.1f}"
        f" ms a step in the first) (target >= 200x: ratio {speed / 200:.2f})"
    )
    long = child(4 * 3600.0)
    print(
        f"peak memory: 30-min run {short['peak_MB']:.0f} MB, 4-h run {long['peak_MB']:.0f} MB "
        f"(ratio {long['peak_MB'] / short['peak_MB']:.2f}; flat is 1.0); 4-h run "
        f"{long['virtual_s'] / long['wall_s']:,.0f}x real time"
    )


if __name__ == "__main__":
    main()
