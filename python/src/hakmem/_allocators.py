"""Which allocators can be preloaded, and proof of which one a run used.

Peers are found with ``ldconfig -p`` (never by a fixed path, so the same code
works on any distribution that packages them), the same way bench/contenders.sh
finds them for the C harness.
"""
import os
import re
import shutil
import subprocess

# name -> library name prefixes to look for, first found wins. gperftools'
# tcmalloc_minimal (no heap profiler) is the one speed comparisons use.
PEERS = {
    "mimalloc": ("libmimalloc",),
    "jemalloc": ("libjemalloc",),
    "tcmalloc": ("libtcmalloc_minimal", "libtcmalloc"),
}
DEFAULT = ("system", "hakmem", "mimalloc", "jemalloc", "tcmalloc")

_ldconfig_cache = None


def _ldconfig():
    """{library file name: path} from the loader cache, or {} without ldconfig."""
    global _ldconfig_cache
    if _ldconfig_cache is None:
        exe = shutil.which("ldconfig") or next(
            (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.access(p, os.X_OK)), None)
        out = ""
        if exe is not None:
            try:
                out = subprocess.run([exe, "-p"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, universal_newlines=True,
                                     timeout=30).stdout
            except (OSError, subprocess.SubprocessError):
                out = ""
        found = {}
        for line in out.splitlines():
            m = re.match(r"\s*(\S+)\s.*=>\s*(\S+)\s*$", line)
            if m and m.group(1) not in found:
                found[m.group(1)] = m.group(2)
        _ldconfig_cache = found
    return _ldconfig_cache


def find_peer(prefixes):
    """Path of the first library named PREFIX.so.<digits>, or None."""
    cache = _ldconfig()
    for prefix in prefixes:
        for name, path in cache.items():
            if re.fullmatch(re.escape(prefix) + r"\.so\.\d+", name):
                return os.path.realpath(path)
    return None


def resolve(spec):
    """(name, path) for an allocator spec, path None for the system allocator.

    spec: "system", "hakmem" (the package's libhakmem.so), "mimalloc",
    "jemalloc", "tcmalloc", a path to a shared library, or "name=path".
    Raises LookupError, with the reason, when it is not installed.
    """
    if "=" in spec:
        name, path = spec.split("=", 1)
    elif spec in ("system", "hakmem") or spec in PEERS:
        name, path = spec, None
    else:
        name, path = os.path.basename(spec), spec
    if path is not None:
        if not os.path.isfile(path):
            raise LookupError("%s: %s does not exist" % (name, path))
        return name, os.path.realpath(path)
    if name == "system":
        return name, None
    if name == "hakmem":
        from . import library_path

        return name, os.path.realpath(library_path())
    path = find_peer(PEERS[name])
    if path is None:
        raise LookupError("%s: not found by ldconfig -p; skipped" % name)
    return name, path


def discover(specs=DEFAULT):
    """({name: path or None}, notes) for the allocators that are installed."""
    found, notes = {}, []
    for spec in specs:
        try:
            name, path = resolve(spec)
        except LookupError as e:
            notes.append(str(e))
            continue
        found[name] = path
    return found, notes


def is_expected(path, reported):
    """Did a run that preloaded path (None: nothing) really use it? reported
    is the allocator= path the run printed."""
    if path is None:
        return re.match(r"libc(\.so|-)", os.path.basename(reported or "")) is not None
    try:
        return os.path.realpath(reported) == os.path.realpath(path)
    except (TypeError, ValueError):
        return False


def preload_env(path, base=None):
    """An environment with exactly this allocator preloaded (None: none)."""
    env = dict(os.environ if base is None else base)
    env.pop("LD_PRELOAD", None)
    if path is not None:
        env["LD_PRELOAD"] = path
    return env
