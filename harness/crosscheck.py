"""Compare what the static lint predicts with what the matrix observed.

Lint judges each migration from the schemas before and after it; the matrix
judges real traffic between clients on either side of it. When they disagree
the report says so and why. This is information for a person, not a failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.cells import cell_id

__all__ = [
    "documented_breaks",
    "how_to_accept",
    "lint_matrix_disagreements",
    "relay_accepted",
    "within_explains",
    "within_version_breaks",
]


def documented_breaks(
    breaking: Iterable[int],
    documented: Iterable[tuple[int, int, str]],
    accepted: Iterable[int] = (),
) -> list[int]:
    """The ``breaking`` migrations (versions the lint calls breaking) that the
    documented matrix accepts: the document lists it (``accepted``, its line
    ``Accepted breaks: v2``), or some cell across the version (one side before
    it, the other at or after it) and across no other breaking migration is
    documented ``No sync`` (``broken``). ``documented``: (local, peer, expected
    status).

    A break already released cannot be undone (released files are frozen);
    documenting it is how a team says it knows, so it stops failing the gate.
    """
    versions, listed = set(breaking), set(accepted)
    broken = [(min(a, b), max(a, b)) for a, b, status in documented if status == "broken"]
    # A cell across another breaking migration too may be documented for that one.
    return [
        version
        for version in sorted(versions)
        if version in listed
        or any({v for v in versions if low < v <= high} == {version} for low, high in broken)
    ]


def within_version_breaks(lint: Sequence[Mapping[str, Any]]) -> dict[int, frozenset[int]]:
    """The migrations whose break holds between replicas of one version too (a trigger
    writing replicated rows), each with the versions whose clients run it: such a break
    can explain a failure wherever a side is at one of them.

    Read from each finding's ``within_versions``; a lint document without them (an
    older release's JSON) gives the migration's version and every later one.
    """
    latest = max((int(entry["version"]) for entry in lint), default=0)
    found: dict[int, frozenset[int]] = {}
    for entry in lint:
        version = int(entry["version"])
        for finding in entry.get("findings") or []:
            if finding.get("rule") not in _WITHIN_ONE_VERSION:
                continue
            if finding.get("severity", "breaking") != "breaking":
                continue
            held = finding.get("within_versions")
            running = range(version, latest + 1) if held is None else map(int, held)
            found[version] = found.get(version, frozenset()) | frozenset(running)
    return found


def within_explains(within: Mapping[int, frozenset[int]], *sides: int) -> bool:
    """Whether a break of ``within`` (see :func:`within_version_breaks`) holds at one of
    ``sides``, the versions of a pair's clients."""
    return any(side in running for running in within.values() for side in sides)


def relay_accepted(
    relay: int, peer: int, accepted: Iterable[int], lint: Sequence[Mapping[str, Any]]
) -> list[int]:
    """The accepted breaking migrations that explain a failed relay check (a writer and a
    reader at ``peer``, the relay at the older ``relay``): those between the two versions,
    and those that break replicas of one version (a trigger writing replicated rows)
    held at ``relay`` or ``peer`` (review BAK-3: no document could accept a relay failure)."""
    listed = set(accepted)
    within = within_version_breaks(lint)
    return sorted(
        v
        for v in listed
        if relay < v <= peer or within_explains({v: within.get(v, frozenset())}, relay, peer)
    )


def how_to_accept(
    version: int,
    breaking: Iterable[int],
    documented: Iterable[tuple[int, int, str]],
    versions: Sequence[int],
    *,
    observed: Iterable[tuple[int, int, str]] = (),
    rules: Iterable[str] = (),
) -> str:
    """Why no documented row accepts the breaking ``version`` (see
    :func:`documented_breaks`), and the row that would, for a message.

    ``observed``: (local, peer, status) of the cells a run checked, which show
    the direction that breaks (none: no run, as in the plugin's lint tests);
    ``rules``: the lint's breaking rules for it.
    """
    observed, rules = list(observed), list(rules)
    line = f"the line `Accepted breaks: v{version}` to the documented matrix"
    earlier = [v for v in versions if v < version]
    if not earlier:  # (review BAK-5: it said nothing)
        return (
            "a first migration's break holds between clients of one version, which no row of"
            f" the matrix accepts: if it is released and accepted, add {line}"
        )
    others = set(breaking) - {version}
    alone = sorted(
        ((a, b) for a, b, status in observed if status == "broken" and _across(a, b, version)),
        key=lambda pair: (abs(pair[0] - pair[1]), pair),
    )
    alone = [(a, b) for a, b in alone if not any(_across(a, b, v) for v in others)]
    if alone:
        a, b = alone[0]
        row = f"`| v{a} | v{b} | ❌ No sync |` (a cell the run saw broken)"
    elif observed and set(rules) and set(rules) <= _PARKED_RULES:
        return (
            f"the run saw this {' and '.join(sorted(set(rules)))} as partial sync (each side"
            " parks what it lacks), and a No sync row for a partial cell fails that cell:"
            " change the migration while it is unreleased; if it is released and the break"
            f" accepted, add {line}"
        )
    elif observed and not any(s == "broken" and _across(a, b, version) for a, b, s in observed):
        # A No sync row would fail its cell, seen full or partial (review BAK-1).
        return (
            f"the run saw no broken cell across v{version}, and a No sync row for a cell it"
            " sees full or partial fails that cell: change the migration while it is"
            f" unreleased; if it is released and the break accepted, add {line}"
        )
    else:
        before = earlier[-1]
        row = (
            f"`| v{version} | v{before} | ❌ No sync |` or"
            f" `| v{before} | v{version} | ❌ No sync |`, the direction that breaks"
        )
        if set(rules) & _NEWER_SIDE:  # (not said for others, review BAA H8 and BAC-9)
            row += " (a tightened constraint breaks the newer client's side, the first)"
    across = sorted(
        {(a, b) for a, b, status in documented if status == "broken" and _across(a, b, version)},
        key=lambda pair: (min(pair), max(pair), pair),
    )
    if not across:
        return (
            f"no documented No sync row crosses v{version}; if the break is accepted (it is"
            f" released and cannot be undone), add {row}, or {line}"
        )
    also = sorted({v for a, b in across for v in others if _across(a, b, v)})
    shown = ", ".join(f"v{a} | v{b}" for a, b in across[:3]) + (", ..." if len(across) > 3 else "")
    return (
        f"the documented No sync rows across v{version} ({shown}) also cross"
        f" {', '.join(f'v{v}' for v in also)}, so none accepts v{version} alone; if the break"
        f" is accepted, add {row}: a pair across v{version} alone, which the run need not"
        f" check; or {line} (review BAK-2)"
    )


def _across(a: int, b: int, version: int) -> bool:
    """Whether the cell (a, b) has one side before ``version`` and one at or after it."""
    return min(a, b) < version <= max(a, b)


_PARKED_RULES = frozenset({"drop-table", "drop-column", "rename-column", "rename-table"})

# Why a breaking migration can still sync partially or fully, by lint rule.
_RULE_EXPLANATIONS: dict[str, str] = {
    "add-not-null-without-default": (
        "the new NOT NULL column only bites rows an older client creates; the run placed "
        "those rows anyway (or created none), so check what value the migration gives them"
    ),
    "type-change": (
        "SQLite's type affinity lets most values into the changed column, so ops still "
        "apply, but a value may change type on the way (text kept in an INTEGER column)"
    ),
    "primary-key-change": (
        "row ids still matched during the run, but clients that disagree on a row's key "
        "can merge two different rows as one"
    ),
    "constraint-loosened": (
        "no generated value used what the looser rule newly allows (a NULL, a value "
        "outside the old CHECK, a duplicate); clients in the field will, and older "
        "clients refuse those"
    ),
    "nondeterministic-default": (
        "the default is read from the clock or random() as each replica fills its rows,"
        " so replicas that fill them at different moments hold different values; the"
        " matrix's traffic does not wait for the clock to move"
    ),
    "constraint-tightened": (
        "the generated values happened to satisfy the tighter constraint (or a trigger"
        " that checks only INSERTs let them in as updates, which it does not check); data"
        " from older clients in the field may not"
    ),
}


def lint_matrix_disagreements(
    lint: Sequence[Mapping[str, Any]], cells: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """List the migrations where the lint verdict and the matrix tell different stories.

    For a migration ``v`` the cells that cross it are those between a client at
    ``v-1`` or older and a client at ``v`` or newer (either side local). A
    ``breaking`` verdict disagrees when none of those cells is ``broken`` (of
    those that cross no other breaking migration). A
    ``safe`` or ``additive`` verdict disagrees when one of them is ``broken``
    and no migration in that cell's range is linted ``breaking`` (which would
    explain it instead).

    Each disagreement is a dict with ``version``, ``lint_verdict``, ``matrix``
    (the worst status seen across the migration), ``rules``, ``cells`` (ids like
    ``v1-v3``) and ``explanation``.
    """
    breaking = {int(entry["version"]) for entry in lint if entry.get("verdict") == "breaking"}
    # Breaks that hold between replicas of one version too (a trigger writing replicated
    # rows): they explain any cell a side of which runs them, crossing them or not.
    within = within_version_breaks(lint)
    found: list[dict[str, Any]] = []
    for entry in sorted(lint, key=lambda item: int(item["version"])):
        version = int(entry["version"])
        verdict = str(entry.get("verdict", ""))
        crossing = [cell for cell in cells if _crosses(cell, version)]
        if not crossing:
            continue
        if verdict == "breaking":
            # Cells across another breaking migration too prove nothing about this
            # one: they may be broken by the other (the cells next to it cross it alone).
            alone = [cell for cell in crossing if _range(cell) & breaking == {version}]
            crossing = alone or crossing
            if any(cell["observed"] == "broken" for cell in crossing):
                continue
            # Read from the cells that cross this migration alone where there are any: a
            # later migration's new column makes the wider cells partial (review BAH-6).
            own = [cell for cell in crossing if _range(cell) == {version}]
            seen = own or crossing
            matrix = "partial" if any(c["observed"] == "partial" for c in seen) else "full"
            rules = _rules(entry, breaking_only=True)
            explanation = _breaking_explanation(matrix, rules, _untested(crossing))
            if own and len(own) < len(crossing):  # (the listed cells may read otherwise)
                pairs = ", ".join(cell_id(c["local"], c["peer"]) for c in _ordered(own))
                span = f"v{version - 1} and v{version} only ({pairs})"
                explanation = f"between {span}: {explanation}"
            found.append(
                {
                    "version": version,
                    "lint_verdict": verdict,
                    "matrix": matrix,
                    "rules": rules,
                    "cells": [cell_id(cell["local"], cell["peer"]) for cell in _ordered(crossing)],
                    "explanation": explanation,
                }
            )
        elif verdict in ("safe", "additive"):
            unexplained = [
                cell
                for cell in crossing
                if cell["observed"] == "broken"
                and not _range(cell) & breaking
                and not within_explains(within, int(cell["local"]), int(cell["peer"]))
            ]
            if not unexplained:
                continue
            found.append(
                {
                    "version": version,
                    "lint_verdict": verdict,
                    "matrix": "broken",
                    "rules": _rules(entry, breaking_only=False),
                    "cells": [
                        cell_id(cell["local"], cell["peer"]) for cell in _ordered(unexplained)
                    ],
                    "explanation": (
                        f"lint saw only {verdict} changes in migration {version}, yet the "
                        "matrix saw broken sync across it: the breakage comes from data or "
                        "constraints the static diff cannot see; look at the cell's reasons"
                    ),
                }
            )
    return found


_WITHIN_ONE_VERSION = frozenset({"trigger-writes-replicated"})
# Breaks where the newer version refuses what older clients write: its side of the pair.
_NEWER_SIDE = frozenset({"add-not-null-without-default", "not-null-added", "constraint-tightened"})


def _crosses(cell: Mapping[str, Any], version: int) -> bool:
    return _across(int(cell["local"]), int(cell["peer"]), version)


def _range(cell: Mapping[str, Any]) -> set[int]:
    """The migrations a cell crosses: those after the older client, up to the newer."""
    low, high = sorted((int(cell["local"]), int(cell["peer"])))
    return set(range(low + 1, high + 1))


def _ordered(cells: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(cells, key=lambda cell: (int(cell["local"]), int(cell["peer"])))


def _rules(entry: Mapping[str, Any], *, breaking_only: bool) -> list[str]:
    """Distinct rule names of a lint entry's findings, in first-seen order."""
    rules: list[str] = []
    for finding in entry.get("findings") or []:
        if breaking_only and finding.get("severity", "breaking") != "breaking":
            continue
        rule = str(finding.get("rule", ""))
        if rule and rule not in rules:
            rules.append(rule)
    return rules


def _untested(cells: Iterable[Mapping[str, Any]]) -> list[str]:
    """Tables some of these cells never wrote a row to (their CHECKs refused every one)."""
    found: list[str] = []
    for cell in cells:
        found += [t for t in cell.get("untested_tables") or [] if t not in found]
    return found


def _breaking_explanation(matrix: str, rules: Sequence[str], untested: Sequence[str] = ()) -> str:
    parts: list[str] = []
    if untested:
        parts.append(
            f"the matrix wrote no row to {', '.join(untested)} in some of these cells (no"
            " generated value passed its CHECKs), so it could not test what changed there;"
            " trust the lint, or give those columns values the harness can generate"
        )
    if matrix == "full":
        parts.append(
            "the matrix saw full sync across this migration: no op was skipped or "
            "rejected, so the generated traffic never touched what it changed; raise "
            "--examples or check that the changed table is replicated"
        )
    elif any(rule in _PARKED_RULES for rule in rules) or not rules:
        parts.append(
            "the matrix saw partial sync because each side parks the ops on what it lacks"
            " (the newer client those on a dropped table or column, for good; the older"
            " one those on a new or renamed one): sync still runs, but data written by one"
            " side is invisible to the other"
        )
    else:
        parts.append(
            "the matrix saw partial sync: the clients skipped ops, and no divergence showed"
            " in the generated traffic"
        )
    parts.extend(_RULE_EXPLANATIONS[rule] for rule in rules if rule in _RULE_EXPLANATIONS)
    return "; ".join(parts)
