"""The oplog compatibility harness: every version against every version, checked."""

from harness.errors import CellFailure, ExpectedFileError, HarnessError, LintFailure

__all__ = ["CellFailure", "ExpectedFileError", "HarnessError", "LintFailure"]
