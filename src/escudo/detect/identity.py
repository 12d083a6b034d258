"""Asset and identity lookups: resolve a risk object to its ``normalized_risk_object``.

Enterprise Security 7.1+ writes ``normalized_risk_object``: the risk object resolved through the Asset &
Identity framework, so that aliases of one person or one machine (``rob``, ``rob@splunk.com``; ``web-02``,
``10.0.0.5``) add up to one entity (splunk/rba docs, ``../shared/reference/escu-semantics.md`` section 6).
Without lookups it is the risk object itself.

The CSV formats are ES's own lookup formats (ES docs "Format an asset or identity list as a lookup"):

* identities: a header with ``identity`` (pipe-separated aliases, the first one is the canonical name) and
  optionally ``email`` (also an alias);
* assets: a header with any of ``ip, mac, nt_host, dns`` (each pipe-separated); the canonical name is the
  first ``nt_host``, else the first ``dns``, ``ip``, ``mac``.

Matching is case-insensitive, ES's default for identity matching.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from escudo.errors import InputError

# Which lookup a risk object type resolves through, and the key fields of each lookup in the order the
# canonical name is picked (ES lookup formats, see the module docstring).
IDENTITY_KEYS: tuple[str, ...] = ("identity", "email")
ASSET_KEYS: tuple[str, ...] = ("nt_host", "dns", "ip", "mac")
LOOKUP_FOR_TYPE: dict[str, str] = {"user": "identity", "system": "asset"}


@dataclass
class IdentityResolver:
    """Maps aliases to canonical entity names, per lookup kind (``identity`` or ``asset``).

    >>> r = IdentityResolver.from_rows(identities=[{"identity": "alice|alice@corp.example|asmith"}])
    >>> r.normalize("ASMITH", "user")
    'alice'
    >>> r.normalize("web-02", "system")
    'web-02'
    """

    aliases: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"identity": {}, "asset": {}}
    )

    @classmethod
    def from_rows(
        cls,
        *,
        identities: Iterable[Mapping[str, str]] = (),
        assets: Iterable[Mapping[str, str]] = (),
    ) -> IdentityResolver:
        """Build from already-parsed lookup rows (dicts keyed by the CSV header)."""
        resolver = cls()
        for kind, rows, keys in (
            ("identity", identities, IDENTITY_KEYS),
            ("asset", assets, ASSET_KEYS),
        ):
            table = resolver.aliases[kind]
            for row in rows:
                names = [v for key in keys for v in _split(row.get(key))]
                if not names:
                    continue
                canonical = names[0]
                for name in names:
                    # First definition wins, as with ES's merge of the first matching record.
                    table.setdefault(name.lower(), canonical)
        return resolver

    @classmethod
    def from_csv(
        cls, identities: Path | None = None, assets: Path | None = None
    ) -> IdentityResolver:
        """Load ES-format identity and/or asset CSV files.

        >>> IdentityResolver.from_csv().normalize("bob", "user")
        'bob'
        """
        return cls.from_rows(
            identities=_read_csv(identities, IDENTITY_KEYS) if identities else (),
            assets=_read_csv(assets, ASSET_KEYS) if assets else (),
        )

    def normalize(self, value: str, risk_object_type: str) -> str:
        """The canonical name of ``value``; the value itself when no lookup knows it."""
        kind = LOOKUP_FOR_TYPE.get(risk_object_type)
        if kind is None:
            return value
        return self.aliases[kind].get(value.lower(), value)


def _split(cell: str | None) -> list[str]:
    return [part.strip() for part in (cell or "").split("|") if part.strip()]


def _read_csv(path: Path, keys: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            if not any(key in header for key in keys):
                raise InputError(
                    f"lookup header needs one of {', '.join(keys)}", path=str(path), line=1
                )
            return [dict(row) for row in reader]
    except OSError as exc:
        raise InputError(f"cannot read lookup: {exc.strerror}", path=str(path)) from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"malformed CSV: {exc}", path=str(path)) from exc
