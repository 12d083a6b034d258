"""Limits of the SPL front end, so that hostile or generated searches fail with a located error
instead of a Python ``RecursionError`` (docs/semantics.md, "Limits on search size and nesting").

Parsing, lowering and SQL generation each recurse once (a few Python frames) per level of nesting,
and Python stops at 1000 frames. Real content stays far below these limits: the deepest
expression of the ESCU Linux corpus (148 detections) nests 9 levels.
"""

from __future__ import annotations

# Nesting of one eval/where expression or one search predicate: parentheses, NOT, unary minus,
# function calls, and each operator of a chain of + - * / % . comparisons (a chain of n of them
# is n levels; AND, OR and XOR chains are balanced, so n of them take about log2(n) levels).
MAX_NESTING = 64
