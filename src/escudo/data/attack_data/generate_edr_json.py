"""Regenerate the ECS and OCSF renderings of the bundled Sysmon attack data.

Run from the repository root, after ``generate_ngrok.py``::

    python src/escudo/data/attack_data/generate_edr_json.py

For each Sysmon log of the ngrok intrusion (and its benign twin) it writes, beside it, the same
events as Elastic Common Schema NDJSON (``ecs_writer.py``: ``<name>-ecs.ndjson``) and as OCSF JSON
lines (``ocsf_writer.py``: ``<name>-ocsf.json``); ``<name>`` is the log's name without
``-sysmon.log`` / ``-sysmon-benign.log`` (``ngrok_linux-ecs.ndjson``,
``ngrok_linux-benign-ecs.ndjson``...). Output is deterministic.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ecs_writer import render_ecs
from event_list import read_events
from ocsf_writer import render_ocsf

NGROK = Path(__file__).parent / "datasets" / "attack_techniques" / "T1572" / "ngrok"
LOGS = {
    "ngrok_linux-sysmon.log": "ngrok_linux",
    "ngrok_linux-sysmon-benign.log": "ngrok_linux-benign",
}


def main() -> None:
    for log, stem in LOGS.items():
        events = read_events((NGROK / log).read_text(encoding="utf-8").splitlines())
        for suffix, render in (("-ecs.ndjson", render_ecs), ("-ocsf.json", render_ocsf)):
            lines = render(events)
            (NGROK / f"{stem}{suffix}").write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(f"wrote {len(lines)} events to {NGROK / (stem + suffix)}")


if __name__ == "__main__":
    main()
