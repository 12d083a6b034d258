"""How many of ESCU's 50 Linux auditd detections fire on their authored positive set and stay silent
on their near miss (tests/data/auditd_detections, scripts/gen_auditd_sets.py).

Usage: ``python benchmarks/auditd_content.py PATH_TO_ESCU [--json]``

``PATH_TO_ESCU`` is a security_content-layout folder, e.g. ``../shared/reference/escu``, read in place.
Each detection's ``linux_auditd_<name>.yml`` runs as ``escudo test`` runs a test entry
(``escudo.detect.testing.run_one``: contentctl's PASS rule for the positive, ``expect: none`` for the
near miss), over ``<stem>/positive.log`` and ``<stem>/near_miss.log`` read as ``linux:audit``. The
report lists each detection's two outcomes (with the reason of any failure), then the totals.
Exit status 0 (the report is the product, not a test).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
SETS = ROOT / "tests" / "data" / "auditd_detections"


def main(argv: list[str] | None = None) -> int:
    from escudo.content.loader import load_content
    from escudo.content.model import AttackData, DetectionTest
    from escudo.detect.testing import run_one

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("escu", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    content = load_content([args.escu])
    detections = {
        d.path.stem: d
        for d in content.detections.values()
        if d.path is not None and d.path.stem.startswith("linux_auditd_")
    }
    report: dict[str, dict[str, str]] = {}
    for stem in sorted(detections):
        outcome: dict[str, str] = {}
        cases: tuple[tuple[str, Literal["results", "none"]], ...] = (
            ("positive.log", "results"),
            ("near_miss.log", "none"),
        )
        for name, expect in cases:
            if not (SETS / stem / name).is_file():
                outcome[name] = "missing: no authored set"
                continue
            data = AttackData(
                data=f"{stem}/{name}", source="/var/log/audit/audit.log", sourcetype="linux:audit"
            )
            test = DetectionTest(name=name, attack_data=(data,), expect=expect)
            result = run_one(detections[stem], test, content=content, attack_data_dirs=[SETS])
            outcome[name] = f"{result.status}: {result.message.splitlines()[0]}"
        report[stem] = outcome
    fired = sum(o["positive.log"].startswith("pass") for o in report.values())
    silent = sum(o["near_miss.log"].startswith("pass") for o in report.values())
    both = sum(all(v.startswith("pass") for v in o.values()) for o in report.values())
    totals = {"detections": len(report), "fire": fired, "silent": silent, "both": both}
    if args.json:
        json.dump({"detections": report, "totals": totals}, sys.stdout, indent=2)
        print()
        return 0
    for stem, outcome in report.items():
        print(stem)
        for name, verdict in outcome.items():
            print(f"  {name:<14} {verdict}")
    print(
        f"\n{fired}/{len(report)} fire on their positive set, {silent}/{len(report)} stay silent "
        f"on their near miss, {both}/{len(report)} both"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
