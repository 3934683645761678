"""Coverage of the calorimetric uncertainties: 50 seeded simulated repeats each.

python benchmarks/bench_coverage.py [--repeats 50]

SAR: every method's 95 % budget (k = 2) on the vial whose wall lags the sample
(two-compartment simulator, which the lumped analyses do not assume), with the declared
iron mass, heat capacity and field drawn from their stated uncertainties; also ILP per
kg Fe.  PCE: Roper's eta with a solvent blank, laser power, heat capacity and absorbance
drawn likewise.  Prints, per quantity, the mean and spread of the relative error, the
mean 95 % half-width and how many intervals cover the simulator's truth.
"""

from __future__ import annotations

import argparse

import numpy as np

from labctl.testing.calorimetry import WALL_LAG_W_PER_K, pce_repeat, sar_repeat


def _line(name: str, rows: np.ndarray) -> str:
    est, u95, truth = rows[:, 0], rows[:, 1], rows[:, 2]
    err = est / truth - 1
    covered = int(np.sum(np.abs(est - truth) <= u95))
    return (
        f"{name:22s} bias {100 * err.mean():+6.2f} %  sd {100 * err.std():5.2f} %  "
        f"u95 {100 * np.mean(u95 / truth):5.2f} %  covered {covered}/{rows.shape[0]}"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    n = parser.parse_args(argv).repeats
    print(f"SAR, vial with wall lag (G = {WALL_LAG_W_PER_K} W/K), {n} repeats")
    runs = [sar_repeat(seed) for seed in range(n)]
    for key in runs[0]:
        print(_line(key, np.array([r[key] for r in runs if key in r])))
    print(f"SAR, lumped vial, {n} repeats")
    runs = [sar_repeat(seed, wall_conductance_W_per_K=None) for seed in range(n)]
    for key in runs[0]:
        print(_line(key, np.array([r[key] for r in runs if key in r])))
    print(f"PCE with a solvent blank, {n} repeats")
    print(_line("eta", np.array([pce_repeat(seed) for seed in range(n)])))


if __name__ == "__main__":
    main()
