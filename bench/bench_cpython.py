"""bench_cpython.py: an allocation-heavy CPython workload for bench_cpython.

    python3 bench_cpython.py SCALE

Run by bench_cpython with PYTHONMALLOC=malloc, so every object CPython makes
(ints, strings, tuples, dicts, lists, frames) is a malloc and a free of the
allocator under test rather than of pymalloc's arenas. The work is what
scripts do all day: build records as dicts, serialise them to JSON and back,
group and sort them, build and split strings, count words, keep sets of
tuples, make and drop small objects, walk a nested tree. SCALE repeats the
whole batch (about 0.1 s each on the machines of MEASURING.md).

The result is checked against itself (the JSON round trip must give back what
went in), so a broken allocator fails the run instead of timing it. Standard
library only; deterministic (seeded).
"""
import json
import random
import sys

WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
         "omicron pi rho sigma tau upsilon phi chi psi omega").split()


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


def strings(rng, n):
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


def batch(rng):
    records = make_records(rng, 1500)
    out = json_round_trip(records)
    out += group_and_sort(records)
    del records
    out += strings(rng, 6000)
    out += tuples_and_sets(rng, 8000)
    out += tree(rng, 6000)
    return out


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    rng = random.Random(2024)
    check = 0
    for _ in range(scale):
        check = (check * 31 + batch(rng)) % 1000000007
    print("bench_cpython.py scale=%d check=%d" % (scale, check))


if __name__ == "__main__":
    main()
