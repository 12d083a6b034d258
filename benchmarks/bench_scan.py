"""Time the raw prefilter's chunk scan: the C extension (each block comparison this CPU has) against
the Python/Arrow scan, on the first chunk of FILE.

Usage: ``python benchmarks/bench_scan.py FILE [--needle ngrok] [--chunk-mb 8] [--repeat 30]``
(make FILE with ``benchmarks/gen_sysmon.py``). Prints the best time per chunk of each scan, its
throughput, and checks that all of them sort the lines the same way. Not a test: the figures
depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from escudo.sources import prefilter
from escudo.sources.prefilter import ChunkSplit, split_chunk_python

try:
    from escudo.sources import _scan as scan  # type: ignore[attr-defined]
except ImportError:
    scan = None


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--needle", default="ngrok")
    parser.add_argument("--chunk-mb", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    with open(args.file, "rb") as fh:
        data = fh.read(args.chunk_mb << 20)
    data = data[: data.rfind(b"\n") + 1]
    clause = (args.needle.lower().encode(),)
    # Whole answers, even on a common needle (where the reader would give up on the chunk), so
    # both scans do all the work and can be compared.
    prefilter.MAX_CANDIDATE_SHARE = 1.0
    expected = split_chunk_python(data, clause)
    assert expected is not None
    lines = expected.lines
    print(f"chunk: {len(data) / 1e6:.1f} MB, {lines} lines, needle {args.needle!r}")
    timings = {
        "python (Arrow + memmem)": _best(lambda: split_chunk_python(data, clause), args.repeat)
    }
    if scan is None:
        print("the C scan is not built: Python only")
    else:
        chosen = scan.used()
        for how in ("avx2", "sse2", "bytes"):
            try:
                scan.use(how)
            except ValueError:
                continue
            count, filtered, skipped, _, runs = scan.scan(data, clause)
            got = ChunkSplit(runs=runs, filtered=filtered, skipped=skipped, lines=count)
            assert got == expected, f"the {how} scan differs from the Python scan"
            timings[f"C, {how} blocks"] = _best(lambda: scan.scan(data, clause), args.repeat)
        scan.use(chosen)
    base = timings["python (Arrow + memmem)"]
    for name, seconds in timings.items():
        print(
            f"{name:26s} {seconds * 1e3:7.2f} ms  {len(data) / seconds / 1e9:5.2f} GB/s  "
            f"{base / seconds:5.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
