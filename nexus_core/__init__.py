"""nexus-core: schema migrations and column-level oplog sync for local-first SQLite apps."""

from nexus_core.db.migrations import (
    apply_migrations,
    get_current_version,
    get_migration_history,
    initialize_database,
    load_migrations,
)
from nexus_core.errors import NexusError
from nexus_core.receive import ReceiveResult
from nexus_core.replica import Replica, open_replica
from nexus_core.sync import SyncResult, sync
from nexus_core.wire import Op, PeerInfo

__all__ = [
    "NexusError",
    "Op",
    "PeerInfo",
    "ReceiveResult",
    "Replica",
    "SyncResult",
    "apply_migrations",
    "get_current_version",
    "get_migration_history",
    "initialize_database",
    "load_migrations",
    "open_replica",
    "sync",
]

__version__ = "0.1.0"
