"""Text a CHECK's ``LIKE`` or ``GLOB`` pattern lets through, built from the pattern.

A column held to a shape (``email LIKE '%_@_%'``, ``code GLOB '[A-Z][A-Z][0-9][0-9]'``)
refuses random text, so without this its table gets no traffic and a breaking
change to it goes unseen. :meth:`Pattern.fill` puts a token where the pattern
takes any run of characters (so values stay distinct per replica, or collide on
purpose) and picks each single character from what its slot allows.

>>> Pattern("%_@_%", glob=False).fill("a-3")
'a@aa-3'
>>> Pattern("[A-Z][A-Z][0-9][0-9]", glob=True).fill("unused", 27)
'BB00'
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cached_property

ANY_CHAR = tuple(string.ascii_lowercase + string.digits)
# What a negated class ([^a-z0-9]) picks from: more than the fillers, so it keeps some.
OTHER_CHARS = tuple(string.ascii_letters + string.digits + "-_.+#@")
Slot = str | tuple[str, ...] | None  # a literal character, one of these, any run


def _glob_class(body: str) -> tuple[str, ...]:
    """The characters a GLOB ``[...]`` class takes (``[^...]``: of :data:`OTHER_CHARS`)."""
    negated = body.startswith("^")
    if negated:
        body = body[1:]
    chars: list[str] = []
    index = 0
    while index < len(body):
        if index + 2 < len(body) and body[index + 1] == "-":
            low, high = ord(body[index]), ord(body[index + 2])
            chars.extend(chr(c) for c in range(low, high + 1))
            index += 3
        else:
            chars.append(body[index])
            index += 1
    if negated:
        return tuple(c for c in OTHER_CHARS if c not in chars)
    return tuple(dict.fromkeys(chars))


@dataclass(frozen=True)
class Pattern:
    """A ``LIKE`` (``%``, ``_``) or ``GLOB`` (``*``, ``?``, ``[...]``) pattern."""

    text: str
    glob: bool

    @cached_property
    def slots(self) -> tuple[Slot, ...]:
        found: list[Slot] = []
        index = 0
        while index < len(self.text):
            char = self.text[index]
            if char == ("*" if self.glob else "%"):
                found.append(None)
            elif char == ("?" if self.glob else "_"):
                found.append(ANY_CHAR)
            elif self.glob and char == "[" and (end := self._class_end(index)) is not None:
                found.append(_glob_class(self.text[index + 1 : end]) or ANY_CHAR)
                index = end
            else:
                found.append(char)
            index += 1
        return tuple(found)

    def _class_end(self, start: int) -> int | None:
        """Where the GLOB class opened at ``start`` closes: a ``]`` first in it
        (after a ``^``) is one of its characters."""
        first = start + 1 + (self.text[start + 1 : start + 2] == "^")
        end = self.text.find("]", first + 1)
        return None if end < 0 else end

    @property
    def capacity(self) -> int:
        """How many texts the single-character slots can spell (at most 10**9)."""
        count = 1
        for slot in self.slots:
            if isinstance(slot, tuple):
                count = min(count * len(slot), 10**9)
        return count

    @property
    def open_ended(self) -> bool:
        """Whether it takes any run of characters somewhere (a token fits in)."""
        return None in self.slots

    def fill(self, token: str, choice: int = 0) -> str:
        """A text the pattern matches: ``token`` in its last run of any characters
        (its first when that run is not at the end); single-character slots take
        the digits of ``choice`` (in the base of each slot's choices), so other
        choices give other texts where the pattern has no such run."""
        runs = [i for i, slot in enumerate(self.slots) if slot is None]
        place = runs[-1] if runs and runs[-1] == len(self.slots) - 1 else (runs or [-1])[0]
        out: list[str] = []
        for index, slot in enumerate(self.slots):
            if slot is None:
                out.append(token if index == place else "")
            elif isinstance(slot, tuple):
                choice, digit = divmod(choice, len(slot))
                out.append(slot[digit])
            else:
                out.append(slot)
        return "".join(out)


__all__ = ["Pattern"]
