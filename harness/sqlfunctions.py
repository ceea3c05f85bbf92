"""The app's own SQL functions, for migrations that call them (``--sql-functions``).

A migration may call a function the app registers on its connections
(calibre's ``title_sort(name)``), or one a newer SQLite has (``unhex``,
``octet_length``): SQLite refuses it here ("no such function") and no version
after it can be built. ``--sql-functions SPEC`` names what registers them:
``module`` or ``module:function`` (imported), or ``path/to/file.py`` or
``path/to/file.py:function``; the function (``register`` by default) takes a
``sqlite3.Connection`` and calls ``create_function`` on it. It then runs on
every connection the harness opens, in every worker process too.
"""

from __future__ import annotations

import importlib
import importlib.util
import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from harness.errors import HarnessError
from nexus_core.db.connection import memory, set_up_connections

DEFAULT_FUNCTION = "register"
HINT = (
    "the app's own SQL function, or one of a newer SQLite? name what registers it with"
    " --sql-functions MODULE[:FUNCTION] or FILE.py[:FUNCTION]"
)


def use_sql_functions(spec: str | None) -> None:
    """Load ``spec`` (see the module docstring) and run it on every connection opened
    from now on; nothing for None. Raises HarnessError with one line on any problem."""
    if spec is None:
        return
    set_up = load_sql_functions(spec)
    probe = memory()
    try:
        set_up(probe)
    except Exception as exc:
        raise HarnessError(f"--sql-functions {spec}: {type(exc).__name__}: {exc}") from exc
    finally:
        probe.close()
    set_up_connections("--sql-functions", set_up)


def load_sql_functions(spec: str) -> Callable[[sqlite3.Connection], object]:
    """The function ``spec`` names, not yet run."""
    where, _, name = spec.rpartition(":") if _names_function(spec) else (spec, "", "")
    name = name or DEFAULT_FUNCTION
    module = _module(spec, where)
    found = getattr(module, name, None)
    if not callable(found):
        raise HarnessError(
            f"--sql-functions {spec}: {where} has no function {name!r} (it takes a"
            " sqlite3.Connection and registers the functions on it)"
        )
    return found  # type: ignore[no-any-return]


def hint(message: str) -> str:
    """``message`` with :data:`HINT` after it where SQLite lacked a function."""
    return f"{message} ({HINT})" if "no such function" in message else message


def _names_function(spec: str) -> bool:
    """Whether ``spec`` ends in ``:function`` (a Windows drive's ``C:`` does not)."""
    head, colon, tail = spec.rpartition(":")
    return bool(colon) and tail.isidentifier() and len(head) > 1


def _module(spec: str, where: str) -> ModuleType:
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise HarnessError(f"--sql-functions {spec}: no such file {path}")
        loader = importlib.util.spec_from_file_location(f"_nexus_sql_functions_{path.stem}", path)
        if loader is None or loader.loader is None:
            raise HarnessError(f"--sql-functions {spec}: {path} cannot be imported")
        module = importlib.util.module_from_spec(loader)
        try:
            loader.loader.exec_module(module)
        except Exception as exc:
            raise HarnessError(f"--sql-functions {spec}: {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(where)
    except Exception as exc:  # ImportError, or whatever the module raises as it loads
        raise HarnessError(f"--sql-functions {spec}: {type(exc).__name__}: {exc}") from exc
