"""``escudo watch``: latency from an append to its alert, and the sustained rate following a file.

Usage::

    python benchmarks/bench_watch.py latency [--appends 60] [--interval 1]
    python benchmarks/bench_watch.py rate FILE   (FILE from benchmarks/gen_sysmon.py)

``latency`` starts ``escudo watch LOG --interval S --output OUT`` (the seed detection), then
appends one ngrok process creation at a time (a new process id each, so each is a new row), at a
random moment of the interval, and measures the time until its row is in OUT (polled every 5 ms):
p50, p99 and max over the appends. ``rate`` starts the watcher on an empty file with the seed and
the shipped detections, appends FILE to it in 8 MB writes as fast as it goes, and measures the
time until the commit record shows every byte read: events/s and MB/s of that span, and the
watcher's CPU time (user + sys). Not a test: figures depend on the machine and its load (the
load average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "samples" / "sysmon-linux-syslog.log"
SEED = "Linux Ngrok Reverse Proxy Usage"
ESCUDO = [sys.executable, "-c", "from escudo.cli import run; run()"]


def ngrok_line(pid: int) -> bytes:
    """One sample ngrok process creation with process id ``pid`` (a row of its own)."""
    for line in SAMPLE.read_bytes().splitlines(keepends=True):
        if b"ngrok http 8080" in line and b"<EventID>1<" in line:
            return line.replace(b">41239<", f">{pid}<".encode())
    raise SystemExit("no ngrok line in the sample")


def start(cmd: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if b"watching" not in line:
        raise SystemExit(f"watch did not start: {line!r}")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(120)


def latency(appends: int, interval: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log, out, state = Path(tmp, "app.log"), Path(tmp, "out.jsonl"), Path(tmp, "state")
        log.write_bytes(b"")
        cmd = [
            *ESCUDO, "watch", str(log), "--detection", SEED, "--state", str(state),
            "--output", str(out), "--interval", str(interval),
        ]  # fmt: skip
        proc = start(cmd)
        rng = random.Random(1)
        delays: list[float] = []
        try:
            for n in range(appends):
                time.sleep(rng.uniform(0, interval))
                pid = 90000 + n
                needle = f'"process_id": "{pid}"'.encode()
                with open(log, "ab") as fh:
                    fh.write(ngrok_line(pid))
                began = time.monotonic()
                while needle not in (out.read_bytes() if out.exists() else b""):
                    if time.monotonic() - began > 60:
                        raise SystemExit(f"no alert for append {n} after 60 s")
                    time.sleep(0.005)
                delays.append(time.monotonic() - began)
        finally:
            stop(proc)
    delays.sort()
    p99 = delays[min(len(delays) - 1, round(0.99 * (len(delays) - 1)))]
    print(
        f"latency append->alert at --interval {interval}: n={len(delays)} "
        f"p50={statistics.median(delays):.3f}s p99={p99:.3f}s max={delays[-1]:.3f}s "
        f"(load {os.getloadavg()[0]:.1f})"
    )


def rate(source: Path) -> None:
    size = source.stat().st_size
    events = sum(chunk.count(b"\n") for chunk in iter_chunks(source))
    with tempfile.TemporaryDirectory() as tmp:
        log, out, state = Path(tmp, "app.log"), Path(tmp, "out.jsonl"), Path(tmp, "state")
        log.write_bytes(b"")
        cmd = [
            *ESCUDO, "watch", str(log), "--state", str(state), "--output", str(out),
            "--interval", "1",
        ]  # fmt: skip
        proc = start(cmd)
        before = _children_cpu()
        began = time.monotonic()
        with open(log, "ab") as fh:
            for chunk in iter_chunks(source):
                fh.write(chunk)
                fh.flush()
        written = time.monotonic() - began
        while _read_offset(state) < size:
            if proc.poll() is not None:
                raise SystemExit("watch stopped")
            time.sleep(0.05)
        elapsed = time.monotonic() - began
        stop(proc)
        cpu = _children_cpu() - before
        rows = out.read_bytes().count(b"\n") if out.exists() else 0
    print(
        f"rate following a file: {events:,} lines, {size / 1e6:.0f} MB in {elapsed:.1f}s "
        f"(written in {written:.1f}s): {events / elapsed:,.0f} lines/s, "
        f"{size / 1e6 / elapsed:.1f} MB/s; watcher CPU {cpu:.1f}s "
        f"({events / max(cpu, 1e-9):,.0f} lines per CPU second); {rows} rows "
        f"(load {os.getloadavg()[0]:.1f})"
    )


def iter_chunks(path: Path, size: int = 8 << 20):  # type: ignore[no-untyped-def]
    with open(path, "rb") as fh:
        rest = b""
        while block := fh.read(size):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            rest = block[cut:]
            yield block[:cut]
        if rest:
            yield rest


def _read_offset(state: Path) -> int:
    try:
        commit = json.loads((state / "commit.json").read_text())
    except (FileNotFoundError, ValueError):
        return 0
    total = 0
    for checkpoint in commit["inputs"].values():
        total += sum(int(f["offset"]) for f in checkpoint.get("files", []))
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--appends", type=int, default=60)
    lat.add_argument("--interval", type=float, default=1.0)
    rt = sub.add_parser("rate")
    rt.add_argument("file", type=Path)
    args = parser.parse_args()
    if args.what == "latency":
        latency(args.appends, args.interval)
    else:
        rate(args.file)


if __name__ == "__main__":
    main()
