"""Time raw-event searches (``escudo search 'sourcetype=linux:audit ...'``) against ``grep``.

Usage: ``python benchmarks/bench_rawsearch.py FILE [--repeat N] [--baseline SRC]`` over an
audit.log (e.g. ``gen_auditd.py 1000000 OUT --records``) or, with ``--sysmon``, a Sysmon for Linux
log (``gen_sysmon.py``). Prints, per command, the best wall time, CPU time (user + sys of the
whole process tree, workers included: the figure to compare on a loaded machine) and peak RSS,
then each search's CPU as a multiple of ``LC_ALL=C grep -c -i ngrok``. ``--baseline SRC`` runs
every search a second time with ``PYTHONPATH=SRC`` (another checkout's ``src``, e.g. a worktree
of main), alternating with this one, and checks that both print the same rows.
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
    # field=value on search-time fields: needles comm=ngrok / comm="ngrok" (and type=SYSCALL)
    "fields": "sourcetype=linux:audit type=SYSCALL comm=ngrok | stats count by exe uid host",
    # ESCU's linux_auditd_whoami_user_discovery shape: an OR of a field and a wildcard value
    "or": 'sourcetype=linux:audit type=SYSCALL comm=ngrok OR exe="*/ngrok" | stats count by exe',
    # ESCU's linux_auditd_normalized_execve_process shape: the foreach fold over every EXECVE
    "foreach": EXECVE,
}
SYSMON_SEARCHES = {
    "term": "sourcetype=sysmon:linux ngrok | stats count by EventID host",
    "fields": "sourcetype=sysmon:linux EventID=1 Image=*/ngrok | stats count by Image host",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sysmon", action="store_true", help="Sysmon for Linux searches")
    parser.add_argument("--baseline", type=Path, help="a src directory to compare with")
    args = parser.parse_args(argv)
    escudo = shutil.which("escudo", path=str(Path(sys.executable).parent)) or "escudo"
    env = dict(os.environ, LC_ALL="C")
    envs = {"": env}
    if args.baseline is not None:
        envs["base:"] = dict(env, PYTHONPATH=str(args.baseline.resolve()))
    searches = SYSMON_SEARCHES if args.sysmon else SEARCHES
    commands = {"grep": (["grep", "-c", "-i", "ngrok", str(args.file)], env)}
    for name, spl in searches.items():
        for prefix, run_env in envs.items():
            argv_ = [escudo, "search", spl, str(args.file), "--format", "jsonl"]
            commands[prefix + name] = (argv_, run_env)
    print(f"file: {args.file} ({args.file.stat().st_size / 1e6:.1f} MB)")
    best: dict[str, Run] = {}
    for _ in range(args.repeat):  # alternate the commands: the load changes over time
        for name, (argv_, run_env) in commands.items():
            run = measure(argv_, run_env)
            if run.rc != 0:
                print(f"{name}: exit {run.rc}")
                return 1
            if name not in best or run.cpu < best[name].cpu:
                best[name] = run
    for name, run in best.items():
        print(
            f"{name:13} wall {run.wall:6.2f} s  cpu {run.cpu:6.2f} s  rss {run.rss / 2**20:6.0f} MB"
            f"  rows {run.out.count(b'{')}"
        )
    grep = max(best["grep"].cpu, 1e-3)
    for name in searches:
        line = f"{name}/grep cpu: {best[name].cpu / grep:.1f}x"
        if args.baseline is not None:
            same = sorted(best[name].out.splitlines()) == sorted(
                best["base:" + name].out.splitlines()
            )
            line += f" (baseline {best['base:' + name].cpu / grep:.1f}x, same rows: {same})"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
