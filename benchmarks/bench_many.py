"""Time ``escudo hunt`` with many detections (a content folder) against ``escudo events`` to Parquet.

Usage: ``python benchmarks/bench_many.py FILE [--content DIR] [--repeat N]`` (default content:
``../shared/reference/escu``; make FILE with ``benchmarks/gen_sysmon.py``).
Prints, per command: the best wall time over N runs, CPU time (user + sys of the whole process
tree, workers included: the figure to compare on a loaded machine), the peak RSS of the tree, the
output size, then the ratios hunt/events. Issue 10 asks for a hunt with N detections to cost at
most 2x ``events`` over the same input, and a peak RSS under 1 GB at any input size.
Not a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_hunt import NEWLINE, Run, measure

DEFAULT_CONTENT = Path(__file__).resolve().parents[2] / "shared" / "reference" / "escu"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--content", type=Path, default=DEFAULT_CONTENT)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    escudo = shutil.which("escudo", path=str(Path(sys.executable).parent)) or "escudo"
    env = dict(os.environ, LC_ALL="C")
    size = args.file.stat().st_size
    print(f"file: {args.file} ({size / 1e6:.1f} MB)  content: {args.content}")
    with tempfile.TemporaryDirectory(prefix="bench-many-") as tmp:
        out = str(Path(tmp) / "events.parquet")
        commands = {
            "events": [escudo, "events", "--format", "parquet", "--output", out, str(args.file)],
            "hunt": [
                escudo, "hunt", "--content", str(args.content), "--format", "jsonl",
                str(args.file),
            ],
        }  # fmt: skip
        best: dict[str, Run] = {}
        for name, cmd in commands.items():
            runs = [measure(cmd, env) for _ in range(args.repeat)]
            best[name] = min(runs, key=lambda r: r.cpu)
            rss = max(r.rss for r in runs)
            last = runs[-1]
            summary = (
                f"{last.out.count(NEWLINE)} result rows"
                if name == "hunt"
                else f"{Path(out).stat().st_size / 1e6:.1f} MB Parquet"
                if Path(out).exists()
                else "no output"
            )
            print(
                f"{name:6s} cpu {best[name].cpu:7.2f} s  wall {best[name].wall:7.2f} s  "
                f"peak RSS {rss / 2**20:7.1f} MiB  exit {last.rc}  ({summary})"
            )
            print(f"       $ {' '.join(cmd)}")
    hunt, events = best["hunt"], best["events"]
    print(
        f"ratio hunt/events: cpu {hunt.cpu / events.cpu:.2f}  wall {hunt.wall / events.wall:.2f}"
        " (target <= 2)"
    )
    if hasattr(os, "getloadavg"):
        print("load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
