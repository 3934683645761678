"""Hold a simulated mouse flank tumor at 43 C under closed-loop AMF control.

    python examples/scripts/magnetic_hyperthermia.py [--hold 1800] [--data-dir ./data]

Prints the temperature reached, the thermal dose and where the run was stored.
"""

import argparse
from pathlib import Path

from labctl import Bench
from labctl.plans import magnetic_hyperthermia

BENCH = Path(__file__).resolve().parents[1] / "benches" / "sim-mouse.yaml"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=1800.0, help="s at 43 C")
    parser.add_argument("--target", type=float, default=43.0, help="C")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    with Bench.from_file(BENCH, data_dir=args.data_dir) as bench:
        result = bench.RE(
            magnetic_hyperthermia(
                bench.amf,
                bench.thermo,
                target=args.target,
                hold=args.hold,
                frequency=230e3,
                max_field=12.0,
                md={"animal_id": "demo-mouse"},
            )
        )
        summary = result.plan_result
        print(
            f"tumor from {summary.T_start_C:.1f} C to {args.target:.1f} C in "
            f"{summary.t_reached - summary.t_start:.0f} s, held "
            f"{summary.t_end - summary.t_reached:.0f} s, max {summary.T_max_C:.1f} C, "
            f"CEM43 = {summary.cem43_min:.1f} min, max field {summary.command_max:.2f} kA/m"
        )
        print(f"run data: {bench.last_run_path}")
    return summary


if __name__ == "__main__":
    main()
