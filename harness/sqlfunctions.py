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
import os
import sqlite3
import sys
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


# The spec in use in this process, as a replay file records it (a file's path made
# absolute, so that the printed replay command works from any folder).
_in_use: list[str] = []


def use_sql_functions(spec: str | None, *, named_as: str = "--sql-functions") -> None:
    """Load ``spec`` (see the module docstring) and run it on every connection opened
    from now on; nothing for None. Raises HarnessError with one line on any problem,
    naming the spec as ``named_as`` does (an option or an ini key)."""
    if spec is None or sql_functions_in_use() == _absolute(spec):
        return  # (the CLI's option, then run_matrix; a forked worker: loaded once)
    set_up = load_sql_functions(spec, named_as=named_as)
    probe = memory()
    try:
        set_up(probe)
    except Exception as exc:
        raise HarnessError(f"{named_as} {spec}: {type(exc).__name__}: {exc}") from exc
    finally:
        probe.close()
    set_up_connections("--sql-functions", set_up)
    _in_use[:] = [_absolute(spec)]


def sql_functions_in_use() -> str | None:
    """The spec :func:`use_sql_functions` last loaded in this process, if any."""
    return _in_use[0] if _in_use else None


def load_sql_functions(
    spec: str, *, named_as: str = "--sql-functions"
) -> Callable[[sqlite3.Connection], object]:
    """The function ``spec`` names, not yet run."""
    where, name = _parts(spec)
    module = _module(spec, where, named_as)
    found = getattr(module, name, None)
    if not callable(found):
        raise HarnessError(
            f"{named_as} {spec}: {where} has no function {name!r} (it takes a"
            " sqlite3.Connection and registers the functions on it)"
        )
    return found  # type: ignore[no-any-return]


def hint(message: str) -> str:
    """``message`` with :data:`HINT` after it where SQLite lacked a function (``no such
    function``; in a DEFAULT, ``unknown function``: review BAS-7)."""
    lacking = "no such function" in message or "unknown function" in message
    return f"{message} ({HINT})" if lacking and HINT not in message else message


def _parts(spec: str) -> tuple[str, str]:
    """(module or file, function) of ``spec``."""
    where, _, name = spec.rpartition(":") if _names_function(spec) else (spec, "", "")
    return where, name or DEFAULT_FUNCTION


def _is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or "\\" in where


def _absolute(spec: str) -> str:
    """``spec`` with a file's path made absolute."""
    return from_folder(spec, Path.cwd())


def from_folder(spec: str, folder: Path) -> str:
    """``spec`` with a file's path taken from ``folder`` (an ini file's rootdir)."""
    where, name = _parts(spec)
    if not _is_file(where):
        return spec
    return f"{(folder / where).resolve()}:{name}"


def _names_function(spec: str) -> bool:
    """Whether ``spec`` ends in ``:function`` (a Windows drive's ``C:`` does not)."""
    head, colon, tail = spec.rpartition(":")
    return bool(colon) and tail.isidentifier() and len(head) > 1


def _module(spec: str, where: str, named_as: str) -> ModuleType:
    """The module ``where`` names: a file (its folder importable, as ``python FILE``
    makes it: a sibling module it imports), or a module imported as ``python -m``
    would, the current folder first (review BAS-8, BAS-9)."""
    if _is_file(where):
        path = Path(where)
        if not path.is_file():
            raise HarnessError(f"{named_as} {spec}: no such file {path}")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = f"_nexus_sql_functions_{path.stem}"
        loader = importlib.util.spec_from_file_location(name, path)
        if loader is None or loader.loader is None:
            raise HarnessError(f"{named_as} {spec}: {path} cannot be imported")
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module  # (a dataclass looks its module up there)
        try:
            loader.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise HarnessError(f"{named_as} {spec}: {type(exc).__name__}: {exc}") from exc
        return module
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        return importlib.import_module(where)
    except Exception as exc:  # ImportError, or whatever the module raises as it loads
        raise HarnessError(f"{named_as} {spec}: {type(exc).__name__}: {exc}") from exc
