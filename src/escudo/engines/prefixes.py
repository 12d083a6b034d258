"""Searches that begin alike: the stages several compiled searches share are run once.

escudo compiles a search to one SQL query whose stages are common table expressions in pipeline
order (``WITH s0 AS (...), s1 AS (...) SELECT ... FROM "sN"``). Searches that expand the same macro
begin with the same stages: ESCU's 15 auditd detections on ``type=PROCTITLE`` each decode every
PROCTITLE record the same way (``linux_auditd_normalized_proctitle_process``) before their own
filter. Where several searches over the same rows have the same first stages, word for word, and
those stages filter rows (a ``WHERE``), :func:`plan` makes them one group: the engine runs the shared
stages once into a table (:attr:`Group.prefix_sql`) and each member over that table
(:meth:`Chain.over`). The same SQL over the same rows gives the same rows, so each member's result
is its result alone (docs/semantics.md, "Stages several searches share").

>>> a = Chain.of('WITH s0 AS (SELECT * FROM "t"), s1 AS (SELECT * FROM "s0" WHERE x = \\'a)\\') '
...              'SELECT y FROM "s1"')
>>> [name for name, _ in a.ctes], a.rest
(['s0', 's1'], 'SELECT y FROM "s1"')
>>> a.prefix_sql(1)
'WITH s0 AS (SELECT * FROM "t"), s1 AS (SELECT * FROM "s0" WHERE x = \\'a)\\') SELECT * FROM "s1"'
>>> a.over(1, "shared_0")
'WITH s1 AS (SELECT * FROM "shared_0") SELECT y FROM "s1"'
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

# A string literal, a quoted identifier (each with its doubled quotes), or a parenthesis.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[()]")
# A stage's head: the first after WITH, the others after a comma.
_HEAD = re.compile(r'(?:WITH |, )("?)(s\d+)\1 AS \(')
# Fewest searches in a group, and where the stages shared must end at least (s2: past reading
# the data set and a first extraction).
MIN_MEMBERS = 2
MIN_STAGE = 2


@dataclass(frozen=True)
class Chain:
    """A compiled query's stages (name, body) in order and what follows them (the last SELECT)."""

    ctes: tuple[tuple[str, str], ...]
    rest: str

    @classmethod
    def of(cls, sql: str) -> Chain | None:
        """The stages of ``sql`` as escudo's compiler writes them, or None (no ``WITH``, or not
        in that shape)."""
        if not sql.startswith("WITH "):
            return None
        ctes: list[tuple[str, str]] = []
        at = 0
        while (head := _HEAD.match(sql, at)) is not None:
            depth, end = 1, -1
            for token in _TOKENS.finditer(sql, head.end()):
                text = token.group()
                depth += 1 if text == "(" else -1 if text == ")" else 0
                if depth == 0:
                    end = token.start()
                    break
            if end < 0:
                return None
            ctes.append((head.group(2), sql[head.end() : end]))
            at = end + 1
        if not ctes or not sql.startswith(" ", at):
            return None
        return cls(tuple(ctes), sql[at + 1 :])

    def prefix_sql(self, stage: int) -> str:
        """The stages up to ``stage`` (included) as a query of that stage's rows."""
        stages = ", ".join(f"{name} AS ({body})" for name, body in self.ctes[: stage + 1])
        return f'WITH {stages} SELECT * FROM "{self.ctes[stage][0]}"'

    def over(self, stage: int, table: str) -> str:
        """This query with the stages up to ``stage`` replaced by the rows of ``table``."""
        name = self.ctes[stage][0]
        later = "".join(f", {n} AS ({body})" for n, body in self.ctes[stage + 1 :])
        return f'WITH {name} AS (SELECT * FROM "{table}"){later} {self.rest}'


@dataclass(frozen=True)
class Group:
    """Searches (``members``, indices) that share their stages up to ``stage``: ``prefix_sql``
    run once into ``table``, each member then run as ``chains[i].over(stage, table)``."""

    table: str
    stage: int
    prefix_sql: str
    members: tuple[int, ...]


def plan(
    sqls: Sequence[str | None], rows: Sequence[Hashable | None], name: str = "__escudo_shared_"
) -> tuple[list[Group], dict[int, Chain]]:
    """The groups of searches (their SQL ``sqls``; None: not shared) over the same rows (``rows``:
    equal keys for the same rows, None: not shared) that share stages up to at least
    :data:`MIN_STAGE` including a ``WHERE``; each search in the group of its longest such prefix
    that :data:`MIN_MEMBERS` share. Returns the groups and the chains of their members.

    >>> head = 'WITH s0 AS (SELECT * FROM "t"), s1 AS (SELECT *, 1 AS u FROM "s0"), s2 AS (SELECT * FROM "s1" WHERE u = 1)'
    >>> groups, _ = plan([f'{head} SELECT a FROM "s2"', f'{head} SELECT b FROM "s2"', 'SELECT 1'], [0, 0, 0])
    >>> [(g.table, g.stage, g.members) for g in groups]
    [('__escudo_shared_0', 2, (0, 1))]
    >>> plan([f'{head} SELECT a FROM "s2"', f'{head} SELECT b FROM "s2"'], [0, 1])[0]  # other rows
    []
    """
    chains: dict[int, Chain] = {}
    counts: dict[tuple[Hashable, tuple[str, ...]], int] = {}
    for index, sql in enumerate(sqls):
        chain = Chain.of(sql) if sql is not None and rows[index] is not None else None
        if chain is None:
            continue
        chains[index] = chain
        bodies = tuple(body for _, body in chain.ctes)
        for stage in range(MIN_STAGE, len(bodies)):
            key = (rows[index], bodies[: stage + 1])
            counts[key] = counts.get(key, 0) + 1
    chosen: dict[tuple[Hashable, tuple[str, ...]], list[int]] = {}
    for index, chain in chains.items():
        bodies = tuple(body for _, body in chain.ctes)
        for stage in range(len(bodies) - 1, MIN_STAGE - 1, -1):
            key = (rows[index], bodies[: stage + 1])
            if counts[key] >= MIN_MEMBERS and any(" WHERE " in b for b in bodies[: stage + 1]):
                chosen.setdefault(key, []).append(index)
                break
    groups: list[Group] = []
    for (_, bodies), members in chosen.items():
        if len(members) < MIN_MEMBERS:
            continue
        stage = len(bodies) - 1
        table = f"{name}{len(groups)}"
        groups.append(Group(table, stage, chains[members[0]].prefix_sql(stage), tuple(members)))
    kept = {i for g in groups for i in g.members}
    return groups, {i: c for i, c in chains.items() if i in kept}


__all__ = ["MIN_MEMBERS", "MIN_STAGE", "Chain", "Group", "plan"]
