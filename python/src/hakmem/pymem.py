"""CPython's own allocator through hakmem, switched at run time.

    hakmem.pymem.install()     # raw, mem and obj domains: new blocks from hakmem
    ...
    hakmem.pymem.uninstall()   # new blocks from the previous allocators again

install() wraps the allocator each domain has now (PyMem_SetAllocator with
hooks that call hakmem): a block the previous allocator handed out before
the switch is still freed and resized by it, told apart with hak_owns. So
switching in a running interpreter is safe. The raw domain is called without
the GIL, from any thread; the hooks are thread-safe (see core.c).

uninstall() sends new allocations back to the previous allocators at once.
The hooks stay in the chain, only to free and resize the blocks hakmem gave
out meanwhile: some (interned strings, module dicts) live until exit, and
the previous allocator would crash on them.

tracemalloc: tracemalloc also hooks the allocators, and ``tracemalloc.stop()``
puts back the allocators it found at ``start()``. Hooked under an active
tracemalloc, hakmem's hooks would be thrown out by that stop (or at exit
after ``python -X tracemalloc``) while hakmem's blocks are alive, and
CPython's allocator would then be handed them. So install() over an active
tracemalloc first stops it, installs, and starts it again with the same
frame limit: tracemalloc then sits above hakmem, traces hakmem's blocks, and
its stop() puts hakmem's hooks back. The traces taken before install() are
dropped (a RuntimeWarning says so). tracemalloc started after install() needs
nothing.

The whole-process route needs no install(): preload hakmem and have CPython
use malloc for every domain,

    LD_PRELOAD=$(python -c 'import hakmem; print(hakmem.preload_library_path())') \\
        PYTHONMALLOC=malloc python script.py

which ``python -m hakmem run -- python script.py`` sets up for you.
"""
from __future__ import annotations

# _tracemalloc, not tracemalloc: the functions used here are the same (the
# module re-exports them), without its imports (pickle, linecache, tokenize:
# milliseconds before install(), which a program calls first).
import _tracemalloc
TYPE_CHECKING = False  # typing's, without importing typing: type checkers take it as true

from . import _core

if TYPE_CHECKING:  # typing costs milliseconds at import; annotations are strings
    from types import TracebackType
    from typing import Dict, Iterable, Optional, Tuple, Type, Union

    Domains = Union[str, Iterable[str]]

#: The allocator domains by name.
DOMAINS: Dict[str, int] = {"raw": _core.DOMAIN_RAW, "mem": _core.DOMAIN_MEM,
                           "obj": _core.DOMAIN_OBJ}
#: Every domain.
ALL: Tuple[str, ...] = ("raw", "mem", "obj")


def _domains(domains: Domains) -> Tuple[str, ...]:
    if isinstance(domains, str):
        domains = (domains,)
    out = tuple(domains)
    for d in out:
        if d not in DOMAINS:
            raise ValueError("unknown allocator domain %r (one of raw, mem, obj)" % (d,))
    return out


def install(domains: Domains = ALL) -> None:
    """Route the given CPython allocator domains (``"raw"``, ``"mem"``,
    ``"obj"``, or several) through hakmem. Over an active tracemalloc,
    tracemalloc is restarted above hakmem (see the module doc)."""
    ds = _domains(domains)
    new = [d for d in ds if not _core.pymem_state(DOMAINS[d])["hooked"]]
    if new and _tracemalloc.is_tracing():
        frames = _tracemalloc.get_traceback_limit()
        import warnings

        warnings.warn("hakmem.pymem.install(): tracemalloc restarted above hakmem's hooks so "
                      "that its stop() keeps them; traces taken so far are dropped",
                      RuntimeWarning, stacklevel=2)
        _tracemalloc.stop()
        try:
            for d in ds:
                _core.pymem_install(DOMAINS[d])
        finally:
            _tracemalloc.start(frames)
        return
    for d in ds:
        _core.pymem_install(DOMAINS[d])


def uninstall(domains: Domains = ALL) -> None:
    """Send new allocations of the given domains back to the previous allocators."""
    for d in _domains(domains):
        _core.pymem_uninstall(DOMAINS[d])


def installed() -> Tuple[str, ...]:
    """The domains whose new blocks come from hakmem now."""
    return tuple(d for d in ALL if _core.pymem_state(DOMAINS[d])["installed"])


def info() -> Dict[str, Dict[str, Union[bool, int]]]:
    """Per domain: installed; hooked (hooks in the chain); new_blocks (blocks
    hakmem served, counted up to 65536); previous_frees and previous_reallocs
    (blocks of the previous allocator handed back to it)."""
    return {d: _core.pymem_state(DOMAINS[d]) for d in ALL}


class Enabled:
    """The context manager :func:`enabled` returns."""

    def __init__(self, domains: Domains) -> None:
        self.domains = _domains(domains)
        self.before: Tuple[str, ...] = ()

    def __enter__(self) -> "Enabled":
        self.before = installed()
        install(self.domains)
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        uninstall(tuple(d for d in self.domains if d not in self.before))


def enabled(domains: Domains = ALL) -> Enabled:
    """``with hakmem.pymem.enabled(): ...``: install for the block's duration
    (domains installed before it stay installed after it)."""
    return Enabled(domains)


__all__ = ["ALL", "DOMAINS", "Enabled", "enabled", "info", "install", "installed", "uninstall"]
