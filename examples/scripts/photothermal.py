"""Photothermal conversion efficiency of a simulated gold-nanorod vial, then 808 nm PTT of
a simulated mouse tumor held at 42 C.

    python examples/scripts/photothermal.py [--duration 600] [--data-dir ./data]
"""

import argparse
from pathlib import Path

from labctl import Bench
from labctl.plans import photothermal_conversion, photothermal_therapy

BENCHES = Path(__file__).resolve().parents[1] / "benches"

VIAL = {"components": [{"mass_g": 1.0, "c_J_per_gK": 4.186}, {"mass_g": 1.0, "c_J_per_gK": 0.83}]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="PTT time, s")
    parser.add_argument("--heat-time", type=float, default=1800.0, help="PCE heating, s")
    parser.add_argument(
        "--absorbance",
        type=float,
        default=1.21,
        help="sample absorbance at 808 nm (UV-Vis, 1 cm path)",
    )
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    with Bench.from_file(BENCHES / "sim-vial.yaml", data_dir=args.data_dir) as bench:
        pce = bench.RE(
            photothermal_conversion(
                bench.laser,
                bench.thermo,
                power=0.5,
                heat_time=args.heat_time,
                cool_time=1200,
                sample=VIAL,
                absorbance=args.absorbance,
                period=2.0,
            )
        ).plan_result
        print(
            f"photothermal conversion efficiency {pce.eta:.3f} +/- {pce.eta_std:.3f} "
            f"(tau_s = {pce.tau_s:.0f} s)   run data: {bench.last_run_path}"
        )
    with Bench.from_file(BENCHES / "sim-mouse.yaml", data_dir=args.data_dir) as bench:
        ptt = bench.RE(
            photothermal_therapy(
                bench.laser, bench.thermo, duration=args.duration, target=42.0, max_irradiance=1.0
            )
        ).plan_result
        print(
            f"PTT: tumor max {ptt.T_max_C:.1f} C, CEM43 {ptt.cem43_min:.1f} min, "
            f"max power {ptt.command_max:.2f} W   run data: {bench.last_run_path}"
        )
    return pce, ptt


if __name__ == "__main__":
    main()
