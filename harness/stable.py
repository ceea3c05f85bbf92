"""Traffic that depends on the seed alone, not on which modules are loaded.

Hypothesis (6.131 and newer) mixes literals it finds in the *local* modules
loaded into the process (anything outside site-packages and the test folders)
into the values it draws. The same seed then gives different traffic in a
fresh CLI run, under pytest after other test modules, in an xdist worker, or
with the app's own code imported: the report would change with the process,
not with the migrations. :func:`seed_only` turns that source off while the
harness generates, so the same seed gives the same traffic everywhere.

This reaches into hypothesis's provider module, which has no public switch
for it; where that module differs (older or newer hypothesis), nothing is
changed, and hypothesis behaves as it ships.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

try:  # internal to hypothesis: checked, never required
    from hypothesis.internal.conjecture import providers as _providers
except ImportError:  # pragma: no cover - a hypothesis without the module
    _providers = None  # type: ignore[assignment]


def _patchable() -> bool:
    return (
        _providers is not None
        and callable(getattr(_providers, "_get_local_constants", None))
        and hasattr(getattr(_providers, "CONSTANTS_CACHE", None), "cache")
        and hasattr(_providers, "Constants")
    )


def _no_local_constants() -> Any:
    return getattr(_providers, "Constants")()  # noqa: B009 - not exported by name


@contextmanager
def seed_only() -> Iterator[None]:
    """While inside, hypothesis draws no constants from the process's loaded
    modules (its built-in edge cases, like 0, -1 or NaN, still come)."""
    if not _patchable():
        yield
        return
    original: Callable[[], Any] = _providers._get_local_constants
    cache = _providers.CONSTANTS_CACHE.cache
    cache.clear()  # cached choices may hold constants from loaded modules
    _providers._get_local_constants = _no_local_constants
    try:
        yield
    finally:
        _providers._get_local_constants = original
        cache.clear()  # and ours must not leak into the user's own tests


__all__ = ["seed_only"]
