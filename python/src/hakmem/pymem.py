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

The whole-process route needs no install(): preload hakmem and have CPython
use malloc for every domain,

    LD_PRELOAD=$(python -c 'import hakmem; print(hakmem.library_path())') \\
        PYTHONMALLOC=malloc python script.py

which ``python -m hakmem run -- python script.py`` sets up for you.
"""
from . import _core

DOMAINS = {"raw": _core.DOMAIN_RAW, "mem": _core.DOMAIN_MEM, "obj": _core.DOMAIN_OBJ}
ALL = ("raw", "mem", "obj")


def _domains(domains):
    if isinstance(domains, str):
        domains = (domains,)
    domains = tuple(domains)
    for d in domains:
        if d not in DOMAINS:
            raise ValueError("unknown allocator domain %r (one of raw, mem, obj)" % (d,))
    return domains


def install(domains=ALL):
    """Route the given CPython allocator domains through hakmem."""
    for d in _domains(domains):
        _core.pymem_install(DOMAINS[d])


def uninstall(domains=ALL):
    """Send new allocations of the given domains back to the previous allocators."""
    for d in _domains(domains):
        _core.pymem_uninstall(DOMAINS[d])


def installed():
    """The domains whose new blocks come from hakmem now."""
    return tuple(d for d in ALL if _core.pymem_state(DOMAINS[d])["installed"])


def info():
    """Per domain: installed; hooked (hooks in the chain); new_blocks (blocks
    hakmem served, counted up to 65536); previous_frees and previous_reallocs
    (blocks of the previous allocator handed back to it)."""
    return {d: _core.pymem_state(DOMAINS[d]) for d in ALL}


class _Installed:
    def __init__(self, domains):
        self.domains = _domains(domains)

    def __enter__(self):
        self.before = installed()
        install(self.domains)
        return self

    def __exit__(self, *exc):
        uninstall(tuple(d for d in self.domains if d not in self.before))


def enabled(domains=ALL):
    """``with hakmem.pymem.enabled(): ...``: install for the block's duration
    (domains installed before it stay installed after it)."""
    return _Installed(domains)


__all__ = ["ALL", "enabled", "info", "install", "installed", "uninstall"]
