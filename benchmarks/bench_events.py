"""Time the ``escudo events`` pipeline: read, extract, normalize, write.

    python benchmarks/bench_events.py FILE [--format parquet] [--datamodel NAME] [--workers N]
        [--extractor fast|scan|reference]

Prints events/s (every Sysmon event read, whatever its EventID), rows written, wall time and
peak RSS of this process and of its worker processes (``resource.getrusage``). Not a test: the
figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time

from escudo.datamodels.normalize import read_dataset
from escudo.outputs import write_batches
from escudo.sources.base import ReadStats


class ProcessWatch:
    """Samples this process and its descendants (pool workers, the forkserver) from /proc.

    Workers are grandchildren via the forkserver, so ``getrusage(RUSAGE_CHILDREN)`` misses them.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_total_rss = 0  # bytes, all processes at one instant
        self.peak_rss: dict[int, int] = {}
        self.cpu: dict[int, float] = {}  # seconds, last seen per pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sample()
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        parents: dict[int, int] = {}
        ticks: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            ticks[int(entry)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        mine = {os.getpid()}
        grew = True
        while grew:
            more = {p for p, pp in parents.items() if pp in mine} - mine
            grew = bool(more)
            mine |= more
        total = 0
        for pid in mine:
            try:
                with open(f"/proc/{pid}/status") as fh:
                    rss = next(int(x.split()[1]) for x in fh if x.startswith("VmRSS:")) * 1024
            except (OSError, StopIteration):
                continue
            total += rss
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), rss)
            self.cpu[pid] = ticks.get(pid, 0.0)
        self.peak_total_rss = max(self.peak_total_rss, total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--format", default="parquet")
    parser.add_argument("--datamodel", default="Endpoint.Processes")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--extractor",
        default="fast",
        help="fast (whole-chunk columnar), scan (per-event regex: the previous fast path), reference",
    )
    parser.add_argument("--output", default=None, help="default: a temporary file, removed after")
    parser.add_argument("--verbose", "-v", action="store_true", help="CPU and RSS per process")
    parser.add_argument(
        "--sample-interval",
        type=float,
        default=0.5,
        help="seconds between /proc samples; each sample holds the GIL in the measured process, so "
        "sampling often slows the run it measures (0.1 s cost about 5%%); RSS is flat after start-up",
    )
    args = parser.parse_args(argv)
    out = args.output or tempfile.mktemp(suffix="." + args.format, dir="/tmp")
    stats = ReadStats()
    with ProcessWatch(args.sample_interval) as watch:
        began = time.perf_counter()
        batches = read_dataset(
            [args.file],
            args.datamodel,
            stats=stats,
            workers=args.workers,
            extractor=args.extractor,
        )
        rows = write_batches(batches, args.format, out)
        elapsed = time.perf_counter() - began
    seen = stats.events + stats.other + stats.filtered
    size = os.path.getsize(args.file)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = [v / 2**20 for pid, v in watch.peak_rss.items() if pid != os.getpid()]
    cpu = sum(watch.cpu.values())
    print(stats.summary(), file=sys.stderr)
    print(
        f"{seen:,} events ({size / 1e9:.2f} GB) -> {rows:,} rows of {args.datamodel} as {args.format}"
        f" in {elapsed:.2f} s: {seen / elapsed:,.0f} events/s wall, {seen / cpu:,.0f} events per"
        f" CPU-second ({cpu:.1f} CPU-s over {len(watch.cpu)} processes); peak RSS: main {own:.0f} MB,"
        f" largest other process {max(workers, default=0):.0f} MB, all together"
        f" {watch.peak_total_rss / 2**20:.0f} MB; load average {os.getloadavg()[0]:.1f}"
    )
    if args.verbose:
        for pid, seconds in sorted(watch.cpu.items()):
            role = "main" if pid == os.getpid() else "child"
            print(
                f"  pid {pid} ({role}): {seconds:.1f} CPU-s, peak {watch.peak_rss[pid] / 2**20:.0f} MB"
            )
    if args.output is None:
        os.unlink(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
