"""What a CHECK constraint allows a column, read from its SQL text (best effort).

Traffic should mostly pass a table's CHECKs, or a table whose column is an
enum (``kind IN ('temp', 'co2')``) would never get a row and a breaking change
to it would go unseen. Only the shapes apps commonly write are understood:
``col IN (literals)``, ``col BETWEEN a AND b``, ``col >= n`` style bounds,
``length(col) = n`` and its bounds (``length(col) <= n``, ``BETWEEN``),
``json_valid(col)`` and ``col LIKE`` or ``GLOB`` a pattern.
Anything else simply gives no hint.

>>> allowed("kind", ["kind IN('temp','co2')"]).choices
('temp', 'co2')
>>> hint = allowed("minutes", ["minutes BETWEEN 5 AND 240"])
>>> hint.low, hint.high
(5, 240)
>>> allowed("doc", ["json_valid(doc) AND length(doc) < 4000"]).json
True
>>> allowed("title", ["length(title) BETWEEN 1 AND 100"]).longest
100
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from harness.patterns import Pattern

NUMBER = r"-?\d+(?:\.\d+)?"
LITERAL = re.compile(rf"'((?:[^']|'')*)'|({NUMBER})")


@dataclass(frozen=True)
class Allowed:
    """Values a CHECK lets through: a list of choices, or numeric bounds."""

    choices: tuple[str | int | float, ...] = ()
    low: int | float | None = None
    high: int | float | None = None
    length: int | None = None  # an exact text length, from length(col) = N
    json: bool = False  # json_valid(col): text holding JSON
    pattern: Pattern | None = None  # col LIKE '...' or col GLOB '...'
    shortest: int | None = None  # text length bounds: length(col) >= N, <= N, BETWEEN
    longest: int | None = None

    @property
    def known(self) -> bool:
        return (
            bool(self.choices)
            or self.low is not None
            or self.high is not None
            or (self.length is not None)
            or self.json
            or self.pattern is not None
            or self.shortest is not None
            or self.longest is not None
        )


_FLIPPED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _negations_flipped(term: str, expr: str, number: str = rf"({NUMBER})") -> str:
    """``NOT (qty < 0)`` as the bound it is, ``qty >= 0`` (a single comparison of
    ``term``, a pattern without groups, with ``number``, a pattern of one group)."""
    return re.sub(
        rf"(?i)\bNOT\s*\(\s*({term})\s*(>=|>|<=|<)\s*{number}\s*\)",
        lambda m: f"{m.group(1)} {_FLIPPED[m.group(2)]} {m.group(3)}",
        expr,
    )


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _name(column: str) -> str:
    return rf"(?<![\w.\"])[\"`\[]?{re.escape(column)}[\"`\]]?"


def allowed(column: str, checks: Iterable[str]) -> Allowed:
    """The hint the table's CHECK expressions give for ``column``."""
    name = _name(column)
    low: int | float | None = None
    high: int | float | None = None
    for expr in checks:
        # (also through a case or space fold: lower(status) IN ('open', 'done'))
        found = re.search(
            rf"(?i)(?:{name}\s+|\b(?:lower|upper|trim)\s*\(\s*{name}\s*\)\s*)IN\s*\(([^()]*)\)",
            expr,
        )
        if found:
            choices = tuple(
                text.replace("''", "'") if number == "" else _number(number)
                for text, number in LITERAL.findall(found.group(1))
            )
            if choices:
                return Allowed(choices=choices)
        # The whole CHECK one equality (a singleton row: id = 1): one choice.
        equal = re.fullmatch(rf"(?is)\s*\(?\s*{name}\s*==?\s*({LITERAL.pattern})\s*\)?\s*", expr)
        if equal:
            text, number = equal.group(2), equal.group(3)
            return Allowed(
                choices=(text.replace("''", "'") if number is None else _number(number),)
            )
        between = re.search(rf"(?i){name}\s+BETWEEN\s+({NUMBER})\s+AND\s+({NUMBER})", expr)
        if between:
            low, high = _number(between.group(1)), _number(between.group(2))
        expr = _negations_flipped(name, expr)
        for op, bound in re.findall(rf"(?i){name}\s*(>=|>|<=|<)\s*({NUMBER})", expr):
            value = _number(bound)
            if op in (">=", ">"):
                low = value + 1 if op == ">" and isinstance(value, int) else value
            else:
                high = value - 1 if op == "<" and isinstance(value, int) else value
    length = shortest = longest = None
    json = False
    pattern = None
    for expr in checks:
        shaped = re.search(
            rf"(?i)(\bNOT\s*\(?\s*)?{name}\s+(LIKE|GLOB)\s+'((?:[^']|'')*)'(\s+ESCAPE\b)?",
            expr,
        )
        if shaped and pattern is None and not shaped.group(1) and not shaped.group(4):
            text = shaped.group(3).replace("''", "'")
            pattern = Pattern(text, glob=shaped.group(2).upper() == "GLOB")
        found = re.search(rf"(?i)length\(\s*{name}\s*\)\s*==?\s*(\d+)", expr)
        if found:
            length = int(found.group(1))
        # A blob's size written as its hex text's: length(hex(id)) = 32 (triage BAP, BAE E5).
        found = re.search(rf"(?i)length\(\s*hex\(\s*{name}\s*\)\s*\)\s*==?\s*(\d+)", expr)
        if found and int(found.group(1)) % 2 == 0:
            length = int(found.group(1)) // 2
        sized = rf"(?<![\w.])length\(\s*{name}\s*\)"  # (not octet_length)
        count = r"(\d+)(?![\w.])"  # a whole number (not 1e2, 2.5)
        between = re.search(rf"(?i){sized}\s*BETWEEN\s+{count}\s+AND\s+{count}", expr)
        if between:
            shortest, longest = int(between.group(1)), int(between.group(2))
        expr = _negations_flipped(sized, expr, count)  # NOT (length(x) > 50): <= 50
        for op, bound in re.findall(rf"(?i){sized}\s*(>=|>|<=|<)\s*{count}", expr):
            if op in (">=", ">"):
                shortest = int(bound) + (op == ">")
            else:
                longest = int(bound) - (op == "<")
        # json_valid(col), or a JSON function over the column alone, which fails
        # ("malformed JSON") on anything else: json_type(col) = 'object'.
        json = json or bool(
            re.search(rf"(?i)\bjson_(?:valid|type|array_length)\s*\(\s*{name}\s*\)", expr)
        )
    if low is not None and high is not None and low > high:
        low = high = None  # bounds of an OR (``qty < 0 OR qty > 9``) read as an AND: unknown
    if (shortest is not None and longest is not None and shortest > longest) or (
        longest is not None and longest < 0
    ):
        shortest = longest = None  # as for numbers: an OR read as an AND, or no text at all
    return Allowed(
        low=low,
        high=high,
        length=length,
        json=json,
        pattern=pattern,
        shortest=shortest,
        longest=longest,
    )
