"""Time compiling hostile searches: a growing IN list (up to 75,000 values, 1 MB of SPL), a long
OR chain in ``search`` and in ``where``.

    python benchmarks/bench_hostile_spl.py [--sizes 9375,18750,37500,75000] [--shape in|search-or|where-or]

For each size prints the SPL size, the wall time of each stage (macro expansion, parse, lowering,
SQL for DuckDB and for Spark), the time per value and the peak memory the compile allocated
(``tracemalloc``, which slows everything down, so it is measured in a second run). Doubling the
size should about double the time (linear; before issue 9 it grew quadratically: 8,000 values took
25 s to compile, 75,000 did not finish in 300 s). Not a test: the figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

from escudo.compile import compile_search
from escudo.spl.macros import expand_macros
from escudo.spl.parser import parse

T = TypeVar("T")
HEAD = "| tstats count from datamodel=Endpoint.Processes by Processes.dest Processes.process_name | rename Processes.* AS * "


def in_list(n: int) -> str:
    values = ", ".join(f'"/usr/bin/tool{i:06d}"' for i in range(n))
    return (
        "| tstats count from datamodel=Endpoint.Processes "
        f"where Processes.process_name IN ({values}) by Processes.dest"
    )


def search_or(n: int) -> str:
    return HEAD + "| search " + " OR ".join(f"process_name=tool{i}" for i in range(n))


def where_or(n: int) -> str:
    return HEAD + "| where " + " OR ".join(f'process_name="tool{i}"' for i in range(n))


SHAPES: dict[str, Callable[[int], str]] = {
    "in": in_list,
    "search-or": search_or,
    "where-or": where_or,
}


def clock(fn: Callable[..., T], *args: object) -> tuple[T, float]:
    """``fn(*args)`` and the seconds it took."""
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="9375,18750,37500,75000")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="in")
    args = parser.parse_args()
    make = SHAPES[args.shape]
    print(f"shape {args.shape}")
    print(f"{'values':>7} {'MB':>5} {'expand':>7} {'parse':>6} {'compile':>8} {'duckdb':>7} {'spark':>6} {'us/value':>8} {'peak MB':>8}")  # fmt: skip
    for n in (int(s) for s in args.sizes.split(",")):
        spl = make(n)
        _, expand = clock(expand_macros, spl, {})
        _, parsed = clock(parse, spl)
        compiled, lowered = clock(compile_search, spl)
        _, duck = clock(compiled.sql, "duckdb")
        _, spark = clock(compiled.sql, "spark")
        del compiled
        tracemalloc.start()
        compile_search(spl)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per_value = (lowered + duck) / n * 1e6
        print(
            f"{n:>7} {len(spl) / 1e6:>5.2f} {expand:>7.2f} {parsed:>6.2f} {lowered:>8.2f} "
            f"{duck:>7.2f} {spark:>6.2f} {per_value:>8.1f} {peak / 1e6:>8.1f}"
        )


if __name__ == "__main__":
    main()
