"""Write synthetic Elastic Common Schema NDJSON (Elastic Defend documents), streaming to disk.

    python benchmarks/gen_ecs.py N OUT [--seed S] [--ocsf]

The events are ``gen_sysmon.py``'s (the same mix: about 80% process starts, the rest network
connections, process ends, file creations and deletions; about 1 in 5,000 process starts is
ngrok), rendered by the bundled attack data's ``ecs_writer.py`` (``--ocsf``: ``ocsf_writer.py``,
OCSF 1.1 JSON lines) from the events read back out of the Sysmon XML. 1,000,000 ECS events are
about 1.2 GB.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src" / "escudo" / "data" / "attack_data"))

from ecs_writer import render_event as render_ecs_event  # noqa: E402
from event_list import read_events  # noqa: E402
from gen_sysmon import Generator  # noqa: E402
from ocsf_writer import render_event as render_ocsf_event  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ocsf", action="store_true", help="OCSF JSON lines instead of ECS")
    args = parser.parse_args(argv)
    render = render_ocsf_event if args.ocsf else render_ecs_event
    gen = Generator(args.seed)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        lines = []
        for i in range(args.count):
            _, _, xml = gen.next()
            doc = render(read_events([xml])[0])
            if doc is not None:
                lines.append(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
            if len(lines) == 10_000 or i == args.count - 1:
                out.write("\n".join(lines) + "\n")
                lines.clear()
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
