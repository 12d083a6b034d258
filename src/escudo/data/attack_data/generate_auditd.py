"""Regenerate the Linux audit renderings of the bundled Sysmon attack data.

Run from the repository root, after ``generate_ngrok.py``::

    python src/escudo/data/attack_data/generate_auditd.py

For each Sysmon log of the ngrok intrusion (and its benign twin) it writes, beside it, the same
events as audit logs in three shapes (``auditd_writer.py``): ``<name>-auditd.log`` (raw, with
``node=``), ``<name>-auditd-enriched.log`` (``log_format=ENRICHED``) and
``<name>-auditd-syslog.log`` (audisp-syslog through rsyslog). Output is deterministic.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from auditd_writer import render_auditd
from event_list import read_events

NGROK = Path(__file__).parent / "datasets" / "attack_techniques" / "T1572" / "ngrok"
LOGS = {
    "ngrok_linux-sysmon.log": "ngrok_linux",
    "ngrok_linux-sysmon-benign.log": "ngrok_linux-benign",
}
SUFFIXES = {
    "raw": "-auditd.log",
    "enriched": "-auditd-enriched.log",
    "syslog": "-auditd-syslog.log",
}


def main() -> None:
    for log, stem in LOGS.items():
        events = read_events((NGROK / log).read_text(encoding="utf-8").splitlines())
        for shape, suffix in SUFFIXES.items():
            lines = render_auditd(events, shape)
            (NGROK / f"{stem}{suffix}").write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(f"wrote {len(lines)} records to {NGROK / (stem + suffix)}")


if __name__ == "__main__":
    main()
