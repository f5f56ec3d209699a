"""bench_cpython.py: allocation-heavy CPython workloads for bench_cpython.

    python3 bench_cpython.py [WORKLOAD] SCALE

WORKLOAD is one of the names in WORKLOADS (default: mixed); SCALE repeats
its batch. Run by bench_cpython, which chooses CPython's allocator: stock
pymalloc, PYTHONMALLOC=malloc (every object a malloc and a free of the
allocator preloaded), or hakmem.pymem.install() (when BENCH_CPYTHON_PYMEM
names the directory that holds the hakmem package: this script installs the
hooks before any work, since the runs use -S and see no site-packages).

The workloads are what scripts do all day, one kind each so that a table
shows which kind an allocator helps or hurts:
  json       records as dicts, serialised to JSON and back, checked equal
  objects    trees of class instances (with and without __slots__) and
             dataclasses, built, walked and dropped
  strings    f-strings, join, split, replace, upper/lower, slicing
  dict       dict and set comprehensions, counting, merging, tuple keys
  regex_sort regular expressions over log-like lines, sorts with key tuples
  bytearray  growing byte buffers, bytes slices, struct packing, memoryview
  threads    four threads building and dropping small containers
  mixed      the earlier single script: records, JSON, grouping, strings,
             sets of tuples, a tree of nodes
Each result is checked against itself or a known figure, so a broken
allocator fails the run instead of timing it. Standard library only;
deterministic (seeded).
"""
import json
import os
import random
import re
import struct
import sys
import threading
from dataclasses import dataclass, field

if os.environ.get("BENCH_CPYTHON_PYMEM"):
    sys.path.insert(0, os.environ["BENCH_CPYTHON_PYMEM"])
    import hakmem.pymem
    hakmem.pymem.install()

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
         "omicron pi rho sigma tau upsilon phi chi psi omega").split()


# ---- mixed (the original workload) ---------------------------------------------

class Node:
    def __init__(self, key, depth):
        self.key = key
        self.children = []
        self.attrs = {"depth": depth, "name": "n%d" % key}


def make_records(rng, n):
    records = []
    for i in range(n):
        records.append({
            "id": i,
            "name": "%s-%s-%d" % (rng.choice(WORDS), rng.choice(WORDS), i),
            "score": rng.random() * 100.0,
            "tags": [rng.choice(WORDS) for _ in range(rng.randrange(1, 6))],
            "group": "g%d" % rng.randrange(40),
            "nested": {"a": i % 7, "b": [i, i * 2, str(i)]},
        })
    return records


def json_round_trip(records):
    text = json.dumps(records, sort_keys=True)
    back = json.loads(text)
    if back != json.loads(json.dumps(back, sort_keys=True)) or len(back) != len(records):
        raise SystemExit("bench_cpython.py: JSON round trip differs")
    return len(text)


def group_and_sort(records):
    groups = {}
    for r in records:
        groups.setdefault(r["group"], []).append(r)
    total = 0
    for name in sorted(groups):
        members = sorted(groups[name], key=lambda r: (-r["score"], r["name"]))
        total += len(members[0]["name"]) + len(members)
    return total


def strings_mixed(rng, n):
    parts = []
    for i in range(n):
        w = rng.choice(WORDS)
        parts.append(f"{w}:{i}:{w.upper()}:{i * 3 % 17}")
    text = " ".join(parts)
    text = text.replace(":", ";").lower()
    counts = {}
    for word in text.split():
        head = word.split(";", 1)[0]
        counts[head] = counts.get(head, 0) + 1
    return sum(counts.values()) + len(text)


def tuples_and_sets(rng, n):
    seen = set()
    hits = 0
    for i in range(n):
        t = (rng.randrange(500), rng.choice(WORDS), i % 13)
        if t in seen:
            hits += 1
        seen.add(t)
    pairs = {(a, b): [a, b] for (a, b, _) in seen}
    return hits + len(pairs)


def tree(rng, n):
    root = Node(0, 0)
    nodes = [root]
    for key in range(1, n):
        parent = nodes[rng.randrange(len(nodes))]
        child = Node(key, parent.attrs["depth"] + 1)
        parent.children.append(child)
        nodes.append(child)
    depth_sum = 0
    stack = [root]
    while stack:
        node = stack.pop()
        depth_sum += node.attrs["depth"]
        stack.extend(node.children)
    return depth_sum


def mixed(rng):
    records = make_records(rng, 1500)
    out = json_round_trip(records)
    out += group_and_sort(records)
    del records
    out += strings_mixed(rng, 6000)
    out += tuples_and_sets(rng, 8000)
    out += tree(rng, 6000)
    return out


# ---- json ----------------------------------------------------------------------

def w_json(rng):
    records = make_records(rng, 2000)
    out = 0
    for _ in range(2):
        out += json_round_trip(records)
    doc = {"users": {r["name"]: {"id": r["id"], "tags": r["tags"]} for r in records[:800]},
           "matrix": [[i * j for j in range(20)] for i in range(100)]}
    text = json.dumps(doc, indent=1)
    if json.loads(text) != doc:
        raise SystemExit("bench_cpython.py: JSON document differs")
    return out + len(text)


# ---- objects -------------------------------------------------------------------

class Plain:
    def __init__(self, key, parent):
        self.key = key
        self.parent = parent
        self.children = []
        self.label = "p%d" % key


class Slotted:
    __slots__ = ("key", "left", "right", "weight")

    def __init__(self, key, weight):
        self.key = key
        self.left = None
        self.right = None
        self.weight = weight


@dataclass
class Item:
    name: str
    price: float
    qty: int = 1
    tags: list = field(default_factory=list)


def w_objects(rng):
    out = 0
    # A random tree of plain instances, walked and dropped.
    nodes = [Plain(0, None)]
    for k in range(1, 12000):
        parent = nodes[rng.randrange(len(nodes))]
        child = Plain(k, parent)
        parent.children.append(child)
        nodes.append(child)
    for n in nodes:
        out += len(n.children)
    # A binary search tree of slotted instances.
    root = None
    for k in range(12000):
        node = Slotted(rng.randrange(1 << 30), k)
        if root is None:
            root = node
            continue
        cur = root
        while True:
            if node.key < cur.key:
                if cur.left is None:
                    cur.left = node
                    break
                cur = cur.left
            else:
                if cur.right is None:
                    cur.right = node
                    break
                cur = cur.right
    stack, count = [root], 0
    while stack:
        n = stack.pop()
        count += 1
        if n.left is not None:
            stack.append(n.left)
        if n.right is not None:
            stack.append(n.right)
    if count != 12000:
        raise SystemExit("bench_cpython.py: tree lost nodes")
    # Dataclasses, made, compared, grouped.
    items = [Item("i%d" % i, rng.random() * 50, rng.randrange(1, 9), [rng.choice(WORDS)])
             for i in range(12000)]
    totals = {}
    for it in items:
        totals[it.tags[0]] = totals.get(it.tags[0], 0.0) + it.price * it.qty
    out += sum(1 for a, b in zip(items, items[1:]) if a == b)
    del nodes, root, items
    return out + count + len(totals)


# ---- strings -------------------------------------------------------------------

def w_strings(rng):
    out = 0
    for _ in range(2):
        out += strings_mixed(rng, 9000)
    lines = []
    for i in range(9000):
        w = WORDS[i % len(WORDS)]
        lines.append("%-10s|%8d|%s" % (w, i * 7, w[::-1] * 2))
    text = "\n".join(lines)
    for line in text.splitlines():
        a, b, c = line.split("|")
        out += len(a.strip()) + len(c[1:-1]) + int(b)
    out += len(text.title()) + text.count("alpha")
    return out


# ---- dict and set comprehensions ---------------------------------------------------

def w_dict(rng):
    n = 30000
    keys = ["k%d" % rng.randrange(n) for _ in range(n)]
    counts = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    squares = {i: i * i for i in range(n)}
    inv = {v: k for k, v in squares.items() if v % 3}
    pairs = {(i % 97, i % 89): i for i in range(n)}
    s1 = {k for k in keys if k.endswith("1")}
    s2 = {"k%d" % i for i in range(0, n, 3)}
    merged = {**counts, **{k: -1 for k in s2}}
    nested = {w: {i: str(i) for i in range(40)} for w in WORDS}
    out = len(counts) + len(inv) + len(pairs) + len(s1 & s2) + len(s1 | s2) + len(merged)
    out += sum(len(v) for v in nested.values())
    for _ in range(3):
        d = dict.fromkeys(keys, 0)
        for k in list(d)[::2]:
            del d[k]
        out += len(d)
    return out


# ---- regex and sort ------------------------------------------------------------------

LOG_RX = re.compile(r"(\d+)-(\d+) (\w+) user=(\w+) took=(\d+)ms")


def w_regex_sort(rng):
    lines = ["%d-%02d %s user=%s took=%dms" % (2020 + i % 5, i % 12, rng.choice(WORDS),
                                              rng.choice(WORDS), rng.randrange(1000))
             for i in range(15000)]
    rows = []
    for line in lines:
        m = LOG_RX.match(line)
        rows.append((m.group(4), int(m.group(5)), m.group(3), int(m.group(1))))
    rows.sort(key=lambda r: (r[0], -r[1]))
    by_user = sorted({r[0] for r in rows})
    words = re.findall(r"[a-z]+", " ".join(lines[:5000]))
    words.sort()
    subbed = [re.sub(r"\d+", "#", ln) for ln in lines[:5000]]
    return len(rows) + len(by_user) + len(words) + sum(map(len, subbed)) + rows[0][1]


# ---- bytearray buffers -----------------------------------------------------------

def w_bytearray(rng):
    out = 0
    for _ in range(6):
        buf = bytearray()
        for i in range(20000):
            buf += struct.pack("<IHd", i, i & 0xFFFF, i * 0.5)
            if i % 50 == 0:
                buf.extend(b"x" * rng.randrange(1, 200))
        view = memoryview(buf)
        chunks = [bytes(view[i:i + 64]) for i in range(0, len(buf) - 64, 64)]
        out += len(chunks) + sum(c[0] for c in chunks[::97])
        view.release()
        parts = [bytes(rng.randrange(8, 300)) for _ in range(2000)]
        out += len(b"".join(parts))
    return out


# ---- threads -------------------------------------------------------------------

def w_threads(rng):
    seeds = [rng.randrange(1 << 30) for _ in range(4)]
    results = [0] * 4

    def work(idx):
        r = random.Random(seeds[idx])
        acc = 0
        for _ in range(40):
            batch = [{"i": i, "s": "t%d-%d" % (idx, i), "l": [i, i + 1]} for i in range(400)]
            keep = {b["s"]: b for b in batch if r.random() < 0.5}
            acc += len(keep) + sum(len(b["l"]) for b in batch)
        results[idx] = acc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(results)


WORKLOADS = {"json": w_json, "objects": w_objects, "strings": w_strings, "dict": w_dict,
             "regex_sort": w_regex_sort, "bytearray": w_bytearray, "threads": w_threads,
             "mixed": mixed}


def main():
    args = sys.argv[1:]
    name = "mixed"
    if args and not args[0].isdigit():
        name = args.pop(0)
    if name not in WORKLOADS:
        raise SystemExit("bench_cpython.py: unknown workload %r (one of %s)"
                         % (name, ", ".join(WORKLOADS)))
    scale = int(args[0]) if args else 1
    rng = random.Random(2024)
    check = 0
    for _ in range(scale):
        check = (check * 31 + WORKLOADS[name](rng)) % 1000000007
    if os.environ.get("BENCH_CPYTHON_PYMEM") and hakmem.pymem.info()["obj"]["new_blocks"] == 0:
        raise SystemExit("bench_cpython.py: hakmem.pymem served no object")
    print("bench_cpython.py workload=%s scale=%d check=%d" % (name, scale, check))


if __name__ == "__main__":
    main()
