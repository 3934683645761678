"""A simulated accumulation-then-hyperthermia study: wall time, speed, memory per subject.

    python benchmarks/bench_study.py                    # 10 subjects, and 5 for memory
    python benchmarks/bench_study.py --subjects 10 --child   # one study (internal)

The study is ``examples/studies/accumulation-then-hyperthermia.yaml`` with its subjects
replaced by ``N`` animals (40 % pilot, imaged at 1, 4, 24 and 48 h post injection; the
rest treated at the pilot's peak time), run end to end with ``run_study(..., sim=True)``
in a fresh process.  Prints the wall time, the simulated subject-time (each subject's
study time from 0 to the end of its last session) over the wall time (target >= 10,000x:
the waits between sessions cost nothing), and the peak resident memory of the 10-subject
study beside a 5-subject one (target: flat in the number of subjects).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def make_study(root: Path, n: int) -> Path:
    """Copy the example tree and give the study ``n`` subjects."""
    for sub in ("benches", "protocols", "studies"):
        shutil.copytree(EXAMPLES / sub, root / sub, ignore=shutil.ignore_patterns("data"))
    path = root / "studies" / "accumulation-then-hyperthermia.yaml"
    study = yaml.safe_load(path.read_text())
    n_pilot = max(1, round(0.4 * n))
    study["subjects"] = [
        {
            "id": f"{'P' if i < n_pilot else 'T'}{i:02d}",
            "group": "pilot" if i < n_pilot else "treated",
        }
        for i in range(n)
    ]
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def child(n: int) -> dict:
    from labctl.study.runner import run_study

    with tempfile.TemporaryDirectory() as tmp:
        path = make_study(Path(tmp), n)
        wall0 = time.perf_counter()
        out = run_study(path, sim=True, quiet=True)
        wall = time.perf_counter() - wall0
    return {
        "subjects": n,
        "sessions": len(out.ran),
        "ok": out.ok,
        "wall_s": wall,
        "subject_time_s": out.simulated_s,
        "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(n: int) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, "--subjects", str(n), "--child"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=10)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.subjects)))
        return
    big = measure(args.subjects)
    small = measure(max(1, args.subjects // 2))
    speed = big["subject_time_s"] / big["wall_s"]
    print(
        f"{big['subjects']} subjects, {big['sessions']} sessions, all succeeded: {big['ok']}\n"
        f"wall time                      {big['wall_s']:9.1f} s\n"
        f"simulated subject-time         {big['subject_time_s'] / 3600:9.1f} h\n"
        f"subject-time / wall time       {speed:9.0f} x   (target >= 10000 x)\n"
        f"peak memory, {small['subjects']:2d} subjects       {small['peak_rss_MB']:9.0f} MB\n"
        f"peak memory, {big['subjects']:2d} subjects       {big['peak_rss_MB']:9.0f} MB"
        f"   (target: flat in the number of subjects)"
    )


if __name__ == "__main__":
    main()
