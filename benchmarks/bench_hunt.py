"""Time ``escudo hunt`` with the seed detection against ``grep -c -i ngrok`` on the same file.

Usage: ``python benchmarks/bench_hunt.py FILE [--repeat N] [--baseline ESCUDO]`` (make FILE with ``benchmarks/gen_sysmon.py``).
Prints, per command: the best wall time over N runs, CPU time (user + sys of the whole tree), the
peak RSS of the whole process tree (the sum over the command and its worker processes, sampled from
``/proc`` every 100 ms: sampling more often takes CPU from the 2-core machine it measures; ``wait4``'s per-process maximum where ``/proc`` is missing), the output
(grep's count, escudo's result rows), then the ratio and the load average (other jobs share the CPU).
Issue 3 asks for escudo <= 3x grep's wall time and < 1 GB peak RSS on 1,000,000 events, page cache
warm. Not a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DETECTION = "Linux Ngrok Reverse Proxy Usage"
NEWLINE = b"\n"
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass
class Run:
    wall: float
    cpu: float  # user + sys of the command and every descendant seen
    rss: int  # bytes
    rc: int
    out: bytes


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

SAMPLE_SECONDS = 0.1  # the /proc sampler's period (it runs on the machine it measures)


def _tree(root: int, cpu: dict[int, float]) -> int:
    """Resident bytes of ``root`` and all its descendants now (0 without /proc); records each
    one's CPU seconds so far in ``cpu`` (workers of a forkserver are not ``root``'s children for
    ``wait4``, so their CPU is only seen here)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])  # ppid; [11], [12] utime, stime in ticks; [21] rss pages
        rss[pid] = int(fields[21]) * PAGE
        used[pid] = (int(fields[11]) + int(fields[12])) / TICK
    total, todo = 0, [root]
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        if pid in used:
            cpu[pid] = used[pid]
        todo.extend(children.get(pid, ()))
    return total


def measure(argv: list[str], env: dict[str, str]) -> Run:
    """Wall and CPU seconds, peak tree RSS, exit status and stdout of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    peak = [0]
    cpu: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            peak[0] = max(peak[0], _tree(proc.pid, cpu))

    sampler = threading.Thread(target=sample, daemon=True)
    if os.path.isdir("/proc"):
        sampler.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    if sampler.is_alive():
        sampler.join()
    rc = os.waitstatus_to_exitcode(status)
    rss = max(peak[0], usage.ru_maxrss * 1024)  # ru_maxrss is KiB on Linux
    cpu.pop(proc.pid, None)  # the command itself: exact figure from wait4
    return Run(wall, usage.ru_utime + usage.ru_stime + sum(cpu.values()), rss, rc, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--baseline",
        metavar="ESCUDO",
        help="another escudo command (e.g. a wrapper running main's code) timed in the same "
        "rounds: each round runs every command once, so load hits them alike",
    )
    args = parser.parse_args(argv)
    escudo = shutil.which("escudo", path=str(Path(sys.executable).parent)) or "escudo"
    env = dict(os.environ, LC_ALL="C")
    hunt = ["hunt", "--detection", DETECTION, "--format", "jsonl", str(args.file)]
    commands = {"grep": ["grep", "-c", "-i", "ngrok", str(args.file)], "escudo": [escudo, *hunt]}
    if args.baseline:
        commands["baseline"] = [args.baseline, *hunt]
    size = args.file.stat().st_size
    print(f"file: {args.file} ({size / 1e6:.1f} MB)")
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    for _ in range(args.repeat):  # rounds: every command once per round
        for name, cmd in commands.items():
            runs[name].append(measure(cmd, env))
    best: dict[str, float] = {}
    for name, cmd in commands.items():
        fastest = min(runs[name], key=lambda r: r.wall)
        rss = max(r.rss for r in runs[name])
        best[name] = fastest.wall
        last = runs[name][-1]
        summary = (
            last.out.decode().strip()
            if name == "grep"
            else f"{last.out.count(NEWLINE)} result rows"
        )
        walls = " ".join(f"{r.wall:.2f}" for r in runs[name])
        cpus = " ".join(f"{r.cpu:.2f}" for r in runs[name])
        print(
            f"{name:8s} wall {fastest.wall:7.3f} s (runs: {walls})  cpu {fastest.cpu:6.2f} s "
            f"(runs: {cpus})  peak RSS {rss / 2**20:8.1f} MiB  exit {last.rc}  ({summary})"
        )
        print(f"         $ {' '.join(cmd)}")
    print(f"ratio escudo/grep: {best['escudo'] / best['grep']:.2f} (target <= 3)")
    if "baseline" in best:
        print(f"ratio baseline/grep: {best['baseline'] / best['grep']:.2f}")
    if hasattr(os, "getloadavg"):
        print("load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
