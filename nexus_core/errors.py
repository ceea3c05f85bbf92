"""The exceptions nexus_core raises; every one derives from :class:`NexusError`."""

from __future__ import annotations


class NexusError(Exception):
    """Root of every error the library raises."""


class MigrationSetError(NexusError):
    """The migrations directory is not a valid, gap-free numbered set."""


class MigrationError(NexusError):
    """A database cannot be migrated (newer than the code, edited file, failed SQL)."""


class DatabaseError(NexusError):
    """A file is missing, is not SQLite, or cannot be opened."""


class VerificationError(NexusError):
    """A database's schema differs from what its version must be."""


class SyncError(NexusError):
    """A sync operation failed: a bad message, an invalid write, an unknown table."""


class WireError(SyncError):
    """An incoming message failed validation as a whole; nothing was written."""
