"""Which allocators can be preloaded, and proof of which one a run used: the
benchmark harness's functions (hakmem._harness), with "hakmem" meaning the
package's own preload library."""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from . import _harness
from ._harness import DEFAULT_ALLOCATORS as DEFAULT
from ._harness import PEERS, find_peer, is_expected, preload_env


def _hakmem_lib() -> str:
    from . import preload_library_path

    return preload_library_path()


def resolve(spec: str) -> Tuple[str, Optional[str]]:
    """(name, path) of an allocator, path None for the system allocator.
    ValueError for an unknown name or a missing path, LookupError for a peer
    that is not installed (see hakmem._harness.resolve)."""
    return _harness.resolve(spec, _hakmem_lib())


def discover(specs: Iterable[str] = DEFAULT) -> Tuple[Dict[str, Optional[str]], List[str]]:
    """({name: path or None}, notes) for the allocators that are installed."""
    return _harness.discover(specs, _hakmem_lib())


__all__ = ["DEFAULT", "PEERS", "discover", "find_peer", "is_expected", "preload_env", "resolve"]
