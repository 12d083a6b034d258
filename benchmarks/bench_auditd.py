"""Time auditd ingest: ``escudo events FILE --datamodel Endpoint.Processes --format parquet``,
then ``escudo ingest FILE --store STORE`` (a new store each run).

    python benchmarks/bench_auditd.py FILE [--repeat N] [--no-store] [--raw-events MODE]

FILE: an audit log, e.g. ``benchmarks/gen_auditd.py 1000000 audit.log --records``. Prints, for
each command, audit records (lines) per second of wall time and per CPU-second of the whole
process tree (workers included, ``bench_hunt.measure``), the rows written and the peak RSS; issue
12 asks for at least 150,000 records/s. ``--raw-events all`` has the ingest keep every record as
a raw event too (as ``auto`` does with ESCU's auditd content). For the seed detection against
``grep -c -i ngrok`` on an auditd file, run ``benchmarks/bench_hunt.py FILE``. Not a test: the
figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hunt import Run, measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-store", action="store_true", help="skip the escudo ingest runs")
    parser.add_argument("--raw-events", choices=("auto", "all", "none"), default="auto")
    args = parser.parse_args(argv)
    with open(args.file, "rb") as fh:
        records = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b""))
    escudo = shutil.which("escudo", path=str(Path(sys.executable).parent)) or "escudo"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rows.parquet"
        cmd = [escudo, "events", str(args.file), "--datamodel", "Endpoint.Processes",
               "--format", "parquet", "--output", str(out)]  # fmt: skip
        runs = [measure(cmd, dict(os.environ)) for _ in range(args.repeat)]
        rows = _rows(out)
    print(f"file: {args.file} ({args.file.stat().st_size / 1e6:.1f} MB, {records:,} records)")
    _show(cmd, runs, records, f"{rows:,} rows")
    if not args.no_store:
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as folder:
                store = Path(folder) / "store"
                cmd = [escudo, "ingest", str(args.file), "--store", str(store)]
                cmd += ["--raw-events", args.raw_events]
                runs.append(measure(cmd, dict(os.environ)))
                files = sum(1 for _ in store.rglob("*.parquet"))
        _show([*cmd[:4], "STORE", *cmd[5:]], runs, records, f"{files} Parquet files")
    if hasattr(os, "getloadavg"):
        print("load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


def _show(cmd: list[str], runs: list[Run], records: int, written: str) -> None:
    best = min(runs, key=lambda r: r.wall)
    print(f"$ {' '.join(cmd)}")
    print(
        f"wall {best.wall:.2f} s ({records / best.wall:,.0f} records/s), cpu {best.cpu:.2f} s "
        f"({records / best.cpu:,.0f} records per CPU-second), {written}, peak RSS "
        f"{max(r.rss for r in runs) / 2**20:.0f} MiB, exit {best.rc}"
    )


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


if __name__ == "__main__":
    raise SystemExit(main())
