"""The harness's exceptions; every one derives from :class:`HarnessError`."""

from __future__ import annotations


class HarnessError(Exception):
    """Root of every error the harness raises (bad input: exit code 2 in the CLI)."""


class ExpectedFileError(HarnessError):
    """The documented matrix file cannot be read or has a line that is not a cell."""


class CellFailure(AssertionError):
    """A matrix cell is not as documented; its message reads like a report."""


class LintFailure(AssertionError):
    """A migration the lint calls breaking, under pytest; its message lists why."""
