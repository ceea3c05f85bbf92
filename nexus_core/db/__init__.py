"""Database layer: the migration runner and schema introspection."""
