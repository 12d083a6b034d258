"""Write synthetic Linux audit logs (auditd), streaming to disk.

    python benchmarks/gen_auditd.py N OUT [--seed S] [--shape raw|enriched|syslog] [--records]

The events are ``gen_sysmon.py``'s (about 80% process starts, about 1 in 5,000 of them ngrok, the
rest network connections, process ends and file events), rendered by the bundled attack data's
``auditd_writer.py``: a process start is one execve event of six records (SYSCALL, EXECVE, CWD,
two PATH, PROCTITLE), a file creation an openat event of five; network connections and process
ends have no record there and are dropped. N counts process events (execve), or records with
``--records``. The serial counts up per host; concurrent events do not interleave. 1,000,000
process events are about 6 million records, 1.9 GB.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src" / "escudo" / "data" / "attack_data"))

from auditd_writer import event_records  # noqa: E402
from event_list import read_events  # noqa: E402
from gen_sysmon import Generator  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shape", choices=("raw", "enriched", "syslog"), default="raw")
    parser.add_argument("--records", action="store_true", help="N counts records, not execs")
    args = parser.parse_args(argv)
    gen = Generator(args.seed)
    serials: dict[str, int] = {}
    images: dict[tuple[str, str], str] = {}
    done = 0
    with open(args.out, "w", encoding="utf-8") as out:
        lines: list[str] = []
        while done < args.count:
            _, _, xml = gen.next()
            event = read_events([xml])[0]
            records = event_records(event, images)
            if not records:
                continue
            serial = serials[event.host] = serials.get(event.host, 1000) + 1
            stamp = f"msg=audit({event.time.timestamp():.3f}:{serial}):"
            header = event.time.strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1)
            for kind, fields in records:
                main_part, separator, enriched = fields.partition("\x1d")
                text = f"type={kind} {stamp} {main_part}"
                if args.shape == "enriched":
                    text += separator + enriched
                if args.shape == "syslog":
                    lines.append(f"{header} {event.host} audisp-syslog: {text}")
                else:
                    lines.append(f"node={event.host} {text}")
            done += len(records) if args.records else int(records[0][1].find("syscall=59 ") > 0)
            if len(lines) >= 20_000:
                out.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            out.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
