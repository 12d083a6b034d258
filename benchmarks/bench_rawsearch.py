"""Time raw-event searches (``escudo search 'sourcetype=linux:audit ...'``) against ``grep``.

Usage: ``python benchmarks/bench_rawsearch.py FILE [--repeat N]`` over an audit.log (e.g. the
bundled ngrok intrusion repeated to 1M records). Prints, per command, the best wall time, CPU time
(user + sys of the whole process tree, workers included: the figure to compare on a loaded
machine) and peak RSS, then each search's CPU as a multiple of ``LC_ALL=C grep -c -i``.
Not a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_hunt import Run, measure

EXECVE = (
    'sourcetype="linux:audit" type=EXECVE | eval relevant_fields="" | foreach a* [eval '
    "relevant_fields=mvappend(relevant_fields, '<<FIELD>>')] | eval process_exec=trim(mvjoin("
    'relevant_fields, " ")) | where LIKE(process_exec, "%ngrok%") | stats count by process_exec host'
)
SEARCHES = {
    # a term: the prefilter keeps the records holding it, then two fields are extracted
    "term": "sourcetype=linux:audit ngrok | stats count by type host",
    # field=value on search-time fields (every record's fields extracted)
    "fields": "sourcetype=linux:audit type=SYSCALL comm=ngrok | stats count by exe uid host",
    # ESCU's linux_auditd_normalized_execve_process shape: the foreach fold over every EXECVE
    "foreach": EXECVE,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    escudo = shutil.which("escudo", path=str(Path(sys.executable).parent)) or "escudo"
    env = dict(os.environ, LC_ALL="C")
    commands = {"grep": ["grep", "-c", "-i", "ngrok", str(args.file)]}
    for name, spl in SEARCHES.items():
        commands[name] = [escudo, "search", spl, str(args.file), "--format", "jsonl"]
    print(f"file: {args.file} ({args.file.stat().st_size / 1e6:.1f} MB)")
    best: dict[str, Run] = {}
    for _ in range(args.repeat):  # alternate the commands: the load changes over time
        for name, argv_ in commands.items():
            run = measure(argv_, env)
            if run.rc != 0:
                print(f"{name}: exit {run.rc}")
                return 1
            if name not in best or run.cpu < best[name].cpu:
                best[name] = run
    for name, run in best.items():
        print(
            f"{name:8} wall {run.wall:6.2f} s  cpu {run.cpu:6.2f} s  rss {run.rss / 2**20:6.0f} MB"
            f"  rows {run.out.count(b'{')}"
        )
    for name in SEARCHES:
        print(f"{name}/grep cpu: {best[name].cpu / max(best['grep'].cpu, 1e-3):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
