"""nexus-core: schema migrations and column-level oplog sync for local-first SQLite apps."""

from nexus_core.db.migrations import (
    apply_migrations,
    get_current_version,
    get_migration_history,
    initialize_database,
    load_migrations,
)
from nexus_core.errors import NexusError

__all__ = [
    "NexusError",
    "apply_migrations",
    "get_current_version",
    "get_migration_history",
    "initialize_database",
    "load_migrations",
]

__version__ = "0.1.0"
