"""CPython's own allocator through hakmem, switched on and off in a running
interpreter.

    python examples/pymem_switch.py
"""
import json

import hakmem
import hakmem.pymem


def main() -> None:
    before = hakmem.stats()["bytes_in_use"]
    with hakmem.pymem.enabled():
        data = json.loads(json.dumps({str(i): [i] * 10 for i in range(10_000)}))
        print("new objects from hakmem:", hakmem.owns(id(object())),
              "bytes in use grew by", hakmem.stats()["bytes_in_use"] - before)
    print("after the with block:", hakmem.owns(id(object())), len(data))
    print(hakmem.pymem.info()["obj"])


if __name__ == "__main__":
    main()
