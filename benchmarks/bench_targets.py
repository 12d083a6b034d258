"""The three speed figures of issues 9 and 10, for this escudo and a baseline, runs alternating.

Usage: ``python benchmarks/bench_targets.py FILE [--baseline CMD] [--content DIR] [--repeat N]``
(make FILE with ``benchmarks/gen_sysmon.py 1000000 FILE --seed 1``; ``--baseline`` is another
escudo's command, e.g. a script running ``main``'s checkout). Each round runs every command once,
this escudo and the baseline next to each other, so both see the same load. Prints per figure
the best over the rounds:

1. ``escudo hunt FILE --detection "Linux Ngrok Reverse Proxy Usage"`` wall time against
   ``LC_ALL=C grep -c -i ngrok FILE`` (target: at most 2x);
2. ``escudo events FILE --format parquet`` events per second of wall time (every event of the
   file, whatever its EventID; target: at least 150,000);
3. ``escudo hunt --content DIR`` (default ``../shared/reference/escu``: every Sysmon for Linux
   detection there plus the shipped ones) CPU time against 2.'s (target: at most 2x, peak RSS
   under 1 GB).

CPU is user + sys of the whole process tree (worker processes included). The compile cache
(``$XDG_CACHE_HOME/escudo/compiled``) is warmed by a first, untimed hunt. Not a test: the figures
depend on the machine and its load (printed at the end).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_hunt import DETECTION, NEWLINE, Run, measure
from bench_many import DEFAULT_CONTENT


def _events(path: Path) -> int:
    """Events in the file: lines holding ``<Event>``."""
    count = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(64 << 20), b""):
            count += block.count(b"<Event>")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--baseline", help="the baseline escudo command (shell words)")
    parser.add_argument("--content", type=Path, default=DEFAULT_CONTENT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-many", action="store_true", help="leave figure 3 out")
    args = parser.parse_args(argv)
    this = shutil.which("escudo", path=str(Path(sys.executable).parent)) or "escudo"
    escudos = {"this": [this]}
    if args.baseline:
        escudos["baseline"] = shlex.split(args.baseline)
    env = dict(os.environ, LC_ALL="C")
    file = str(args.file)
    events = _events(args.file)
    print(f"file: {file} ({args.file.stat().st_size / 1e6:.1f} MB, {events:,} events)")
    runs: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-targets-") as tmp:
        out = str(Path(tmp) / "events.parquet")
        head = Path(tmp) / "head.log"  # warms the compile cache for every hunt, cheaply
        with args.file.open("rb") as fh:
            data = fh.read(1 << 20)
        head.write_bytes(data[: data.rfind(b"\n") + 1])
        commands = {"grep": ["grep", "-c", "-i", "ngrok", file]}
        for name, escudo in escudos.items():
            one = [*escudo, "hunt", "--detection", DETECTION, "--format", "jsonl"]
            many = [*escudo, "hunt", "--content", str(args.content), "--format", "jsonl"]
            commands[f"hunt1 {name}"] = [*one, file]
            commands[f"events {name}"] = [
                *escudo, "events", "--format", "parquet", "--output", out, file
            ]  # fmt: skip
            measure([*one, str(head)], env)
            if not args.skip_many:
                commands[f"many {name}"] = [*many, file]
                measure([*many, str(head)], env)
        measure(commands["grep"], env)  # the page cache
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                run = measure(cmd, env)
                runs.setdefault(name, []).append(run)
                print(
                    f"  {name:16s} wall {run.wall:7.2f} s  cpu {run.cpu:7.2f} s  "
                    f"rss {run.rss / 2**20:7.1f} MiB  exit {run.rc}  "
                    f"({run.out.count(NEWLINE)} lines out)",
                    flush=True,
                )
    grep = min(r.wall for r in runs["grep"])
    print(f"\ngrep -c -i ngrok: best wall {grep:.2f} s")
    for name in escudos:
        hunt = min(r.wall for r in runs[f"hunt1 {name}"])
        ev = min(runs[f"events {name}"], key=lambda r: r.wall)
        print(f"[{name}]")
        print(f"  1. hunt one detection: {hunt:.2f} s wall = {hunt / grep:.2f}x grep (target <= 2)")
        print(f"  2. events to Parquet: {events / ev.wall:,.0f} events/s wall (target >= 150,000)")
        if not args.skip_many:
            ev_cpu = min(r.cpu for r in runs[f"events {name}"])
            many = runs[f"many {name}"]
            cpu = min(r.cpu for r in many)
            rss = max(r.rss for r in many)
            print(
                f"  3. hunt many detections: {cpu:.2f} s cpu = {cpu / ev_cpu:.2f}x events "
                f"({ev_cpu:.2f} s cpu; target <= 2), peak RSS {rss / 2**20:.0f} MiB (< 1024)"
            )
    if hasattr(os, "getloadavg"):
        print("load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
