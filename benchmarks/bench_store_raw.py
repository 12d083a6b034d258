"""What keeping raw events costs ``escudo ingest``: ingest speed and store size with and without.

Usage::

    python benchmarks/bench_store_raw.py FILE... [--work DIR] [--repeat 2]

For each FILE (e.g. ``gen_sysmon.py`` or ``gen_auditd.py`` output), runs ``ingest`` into an empty
store with ``raw_events=()`` (``--raw-events none``) and ``raw_events=None`` (``all``), alternating,
``--repeat`` times each, in a fresh subprocess per run; prints per run the input's lines (Sysmon
events, auditd records) over the wall time and over the CPU time, the CPU seconds of every process of it (workers too),
the machine's load, and the bytes of the store's ``events/`` and ``raw/`` folders.
Not a test: figures depend on the machine and its load (compare CPU seconds, measured in the same
minutes, alternating).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*.parquet")) if folder.is_dir() else 0


def one(path: Path, store: Path, raw: bool) -> dict[str, Any]:
    """One ingest of ``path`` into the new store ``store``, raw events kept or not."""
    from escudo.sources.base import ReadStats
    from escudo.store.ingest import ingest

    if store.exists():
        shutil.rmtree(store)
    stats = ReadStats()
    load = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    report = ingest([path], store, stats=stats, progress=False, raw_events=None if raw else ())
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu + report.worker_cpu
    return {
        "raw": raw,
        "events": stats.events,
        "rows": report.rows,
        "wall": round(wall, 2),
        "cpu": round(cpu, 2),
        "load": round(load, 1),
        "events_bytes": _size(store / "events"),
        "raw_bytes": _size(store / "raw"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="*")
    parser.add_argument("--work", type=Path, help="folder for the stores (default: temporary)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--one", nargs=3, metavar=("FILE", "STORE", "RAW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        path, store, raw = args.one
        print(json.dumps(one(Path(path), Path(store), raw == "1")))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="escudo-bench-raw-"))
    for path in args.files:
        input_bytes = path.stat().st_size
        with path.open("rb") as f:
            lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
        print(f"{path} ({input_bytes / 2**20:.0f} MiB, {lines} lines)")
        for _ in range(args.repeat):
            for raw in (False, True):
                out = subprocess.run(
                    [sys.executable, __file__, "--one", str(path), str(work / "s"), str(int(raw))],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(
                    f"  raw={'all ' if raw else 'none'} {lines / r['wall']:>9,.0f} lines/s "
                    f"({lines / r['cpu']:>9,.0f} per CPU s) wall {r['wall']:6.2f} s "
                    f"cpu {r['cpu']:6.2f} s load {r['load']:4.1f}  "
                    f"events/ {r['events_bytes'] / 2**20:6.1f} MiB  "
                    f"raw/ {r['raw_bytes'] / 2**20:6.1f} MiB"
                )
        shutil.rmtree(work / "s", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
