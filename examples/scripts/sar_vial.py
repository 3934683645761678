"""Measure the SAR of a simulated ferrofluid vial at 230 kHz / 8 kA/m by three methods.

python examples/scripts/sar_vial.py [--heat-time 300] [--data-dir ./data]
"""

import argparse
from pathlib import Path

from labctl import Bench
from labctl.plans import sar_measurement

BENCH = Path(__file__).resolve().parents[1] / "benches" / "sim-vial.yaml"

SAMPLE = {
    "name": "1 mL ferrofluid in a 1 g glass vial",
    "components": [{"mass_g": 1.0, "c_J_per_gK": 4.186}, {"mass_g": 1.0, "c_J_per_gK": 0.83}],
    "iron_mass_mg": 2.0,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heat-time", type=float, default=300.0, help="s")
    parser.add_argument("--cool-time", type=float, default=300.0, help="s")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    with Bench.from_file(BENCH, data_dir=args.data_dir) as bench:
        result = bench.RE(
            sar_measurement(
                bench.amf,
                bench.thermo,
                frequency=230e3,
                field=8.0,
                heat_time=args.heat_time,
                cool_time=args.cool_time,
                sample=SAMPLE,
            )
        ).plan_result
        for r in result.results:
            print(
                f"{r.method:16s} SAR = {r.sar_W_per_g:7.1f} +/- {r.sar_std_W_per_g:5.1f} W/g Fe"
                f"   ILP = {r.ilp_nH_m2_per_kg:5.2f} nH m^2/kg   R^2 = {r.r_squared:.4f}"
            )
        print(f"run data: {bench.last_run_path}")
    return result


if __name__ == "__main__":
    main()
