"""Fault matrix: every fault at every phase of each energizing plan, on the simulated
benches; prints one line per case, then faults tried, safe shutdowns and events lost,
and the wall time per case.

    python benchmarks/fault_matrix.py [-j 2] [--plans sar,pce]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from labctl.testing.fault_matrix import cases, format_outcome, quiet_logs, run_matrix, summary

BENCHES = Path(__file__).resolve().parent.parent / "examples" / "benches"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-j", "--workers", type=int, default=2)
    parser.add_argument("--plans", default=None)
    args = parser.parse_args()
    plans = args.plans.split(",") if args.plans else None
    quiet_logs()
    t0 = time.perf_counter()
    outcomes = run_matrix(
        plans,
        BENCHES,
        workers=args.workers,
        progress=lambda o: print(format_outcome(o), flush=True),
    )
    wall = time.perf_counter() - t0
    counts = summary(outcomes)
    print("\nper fault (bench-clock s): worst fault->detection, worst detection->energy off")
    for kind in sorted({o.case.kind for o in outcomes}):
        mine = [o for o in outcomes if o.case.kind == kind]
        detect = max(o.detect_s for o in mine)
        late = max(o.off_s - max(o.detect_s, o.reachable_s) for o in mine)
        print(
            f"  {kind:<22} {len(mine):3d} cases  detect <= {detect:5.2f}  off after <= "
            f"{max(late, 0.0):4.2f}"
        )
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    print(
        f"{len(cases(plans))} cases in {wall:.1f} s wall with {args.workers} worker(s): "
        f"{wall / max(len(outcomes), 1):.2f} s per case"
    )
    ok = counts["safe shutdowns"] == counts["faults tried"] and counts["events lost"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
