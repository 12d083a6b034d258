"""Fuzz the readers and SPL for minutes: the properties of the CI fuzz tests, many more examples.

Usage: ``python benchmarks/fuzz.py [--minutes 10] [--seed N] [--exclude-known] [--only PREFIX]``

Runs every target of ``tests/sources/test_fuzz_readers.py`` and ``tests/spl/test_fuzz_spl.py``
(their ``TARGETS``: readers over every Sysmon shape, gzip, directories and stdin; the SPL
tokenizer, parser, macro expander, compiler and DuckDB) plus their ``KNOWN_TARGETS`` (properties
CI leaves out, each with why: the fast extractor against the expat reference, where the fast
path is knowingly more lenient), each for an equal share of the time, in batches of random
Hypothesis examples (reproducible from ``--seed``). A failure is shrunk to a minimal example,
printed once, and its signature (exception type and innermost escudo frame) then counted but no
longer stops the target. ``--exclude-known`` leaves the ``KNOWN_TARGETS`` out. Prints per target: examples run, seconds, examples/s, failures. Exit status 1 if a
failure outside the ``KNOWN_TARGETS`` was found. Not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "sources"), str(ROOT / "tests" / "spl")]

import test_fuzz_readers as readers  # noqa: E402
import test_fuzz_spl as spl  # noqa: E402

from escudo.errors import EscudoError  # noqa: E402

BATCH = 100  # examples per Hypothesis run: short runs keep the time shares fair


@dataclass
class Failure:
    target: str
    signature: str
    summary: str
    repro: str
    owner: str | None
    hits: int = 1


@dataclass
class Target:
    name: str
    check: Callable[..., None]
    args: dict[str, st.SearchStrategy[Any]]
    owner: str | None = None  # another change owns this target's crashes
    examples: int = 0
    seconds: float = 0.0
    failures: dict[str, Failure] = field(default_factory=dict)


def signature(exc: BaseException) -> str:
    """Exception type and the innermost frame in escudo (else the innermost frame at all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/escudo/" in f.filename] or frames[-1:]
    if isinstance(exc, RecursionError):  # the innermost frame varies with the depth
        ours = ours[:1]
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno} in {ours[-1].name}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


def known_owner(exc: BaseException, target: Target) -> str | None:
    """The change that owns this crash, when it is one of issue 9's other points."""
    if target.owner:
        return target.owner
    return None


def run_batch(target: Target, rng: random.Random) -> None:
    """One Hypothesis run of up to BATCH examples; record a new failure with its minimal case."""
    seen = target.failures

    def prop(**kwargs: Any) -> None:
        target.examples += 1
        try:
            target.check(**kwargs)
        except EscudoError:
            pass  # escudo's own errors are the accepted outcome
        except Exception as exc:
            known = seen.get(signature(exc))
            if known is None:
                raise
            known.hits += 1  # already reported: keep fuzzing for other bugs

    prop.__name__ = target.name.replace(".", "_").replace("-", "_")
    test = seed(rng.getrandbits(64))(
        settings(
            max_examples=BATCH,
            deadline=None,
            database=None,
            derandomize=False,
            report_multiple_bugs=False,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )(given(**target.args)(prop))
    )
    start = time.perf_counter()
    try:
        test()
    except Exception as exc:
        notes = "\n".join(getattr(exc, "__notes__", []))
        sig = signature(exc)
        summary = f"{type(exc).__name__}: {str(exc)[:300]}"
        seen[sig] = Failure(target.name, sig, summary, notes[:3000], known_owner(exc, target))
        print(f"  [{target.name}] new failure: {sig}", flush=True)
    finally:
        target.seconds += time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--exclude-known", action="store_true", help="skip the KNOWN_TARGETS")
    parser.add_argument("--only", default="", help="run only targets whose name starts so")
    args = parser.parse_args(argv)
    run_seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(run_seed)
    targets = [
        Target(name, check, strategies)
        for name, (check, strategies, _ci) in {**readers.TARGETS, **spl.TARGETS}.items()
    ]
    if not args.exclude_known:
        targets += [
            Target(name, check, strategies, owner)
            for name, (check, strategies, owner) in {
                **readers.KNOWN_TARGETS,
                **spl.KNOWN_TARGETS,
            }.items()
        ]
    targets = [t for t in targets if t.name.startswith(args.only)]
    print(f"fuzz: {len(targets)} targets, {args.minutes:g} min, seed {run_seed}", flush=True)
    deadline = time.monotonic() + args.minutes * 60
    while time.monotonic() < deadline:
        run_batch(min(targets, key=lambda t: t.seconds), rng)  # the target furthest behind
    return report(targets, args.minutes)


def report(targets: list[Target], minutes: float) -> int:
    print(f"\n{'target':24} {'examples':>9} {'seconds':>8} {'ex/s':>7} {'failures':>8}")
    for t in targets:
        rate = t.examples / t.seconds if t.seconds else 0.0
        print(f"{t.name:24} {t.examples:9d} {t.seconds:8.1f} {rate:7.1f} {len(t.failures):8d}")
    total = sum(t.examples for t in targets)
    print(f"{'total':24} {total:9d} {sum(t.seconds for t in targets):8.1f}")
    failures = [f for t in targets for f in t.failures.values()]
    new = [f for f in failures if f.owner is None]
    for title, group in (("UNCAUGHT (no known owner)", new), ("known owners", failures)):
        group = [f for f in group if (f.owner is None) == (title.startswith("UNCAUGHT"))]
        if not group:
            continue
        print(f"\n== {title}: {len(group)}")
        for f in group:
            owner = f" [owner: {f.owner}]" if f.owner else ""
            print(f"- {f.target}: {f.signature} (hit {f.hits}x){owner}\n  {f.summary}")
            print("  " + f.repro.replace("\n", "\n  "))
    print(f"\nfuzz: {total} examples in {minutes:g} min, {len(new)} uncaught exception(s)")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
