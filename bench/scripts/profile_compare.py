#!/usr/bin/env python3
"""Per-operator self time of two Chrome traces of the training step, side by side.

Reads the traces that `train_step_bench --profile F` (C++) and `train_step.py --profile F`
(Python) write: three steps each, with every phase inside a "phase:forward", "phase:backward" or
"phase:optimizer" range. An operator's self time is its duration minus that of the operators
nested directly in it on the same thread; each is credited to the phase whose range covers its
start. Prints, per phase, the operators whose self time per step differs most.

Read the small operators with care: the Python trace has whole-microsecond timestamps (a view
such as aten::select shows 0 us), and the C++ RecordProfile costs about three times as much per
recorded operator as Python's legacy profiler (100 bmm calls of 2000 small matrices: 1.6 s
profiled in C++ against 0.53 s in Python, 0.18 s unprofiled on both sides), which inflates
operators that run many tiny operators inside (bmm's per-matrix selects). Compare the operators
that compute: mm/addmm, add, fill_, the softmax and embedding backward.

    bench/scripts/profile_compare.py CPP_TRACE PY_TRACE [--top 25] [--phase backward]
"""
import argparse
import collections
import json


def load(path):
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    return [e for e in events if e.get("ph") == "X" and "dur" in e]


def self_times(events):
    """{phase: {name: [self_us, calls]}} and the number of steps seen."""
    phases = sorted((float(e["ts"]), float(e["ts"]) + float(e["dur"]), e["name"][len("phase:"):])
                    for e in events if e["name"].startswith("phase:"))
    steps = max([1] + [sum(1 for p in phases if p[2] == name) for name in ("forward", "backward")])

    def phase_of(ts):
        for start, end, name in phases:
            if start <= ts <= end:
                return name
        return "other"

    by_thread = collections.defaultdict(list)
    for e in events:
        if not e["name"].startswith("phase:"):
            by_thread[e.get("tid")].append(e)
    out = collections.defaultdict(lambda: collections.defaultdict(lambda: [0.0, 0]))
    for items in by_thread.values():
        items.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # [end, event, children_us]

        def close(entry):
            end, event, children = entry
            row = out[phase_of(float(event["ts"]))][event["name"]]
            row[0] += float(event["dur"]) - children
            row[1] += 1

        for e in items:
            ts, dur = float(e["ts"]), float(e["dur"])
            while stack and stack[-1][0] <= ts:
                close(stack.pop())
            if stack:
                stack[-1][2] += dur
            stack.append([ts + dur, e, 0.0])
        while stack:
            close(stack.pop())
    return out, steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cpp")
    ap.add_argument("python")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--phase", default="", help="only this phase (forward, backward, optimizer)")
    args = ap.parse_args()
    cpp, cpp_steps = self_times(load(args.cpp))
    py, py_steps = self_times(load(args.python))
    for phase in ("forward", "backward", "optimizer"):
        if args.phase and phase != args.phase:
            continue
        a, b = cpp.get(phase, {}), py.get(phase, {})
        total_a = sum(v[0] for v in a.values()) / cpp_steps / 1e3
        total_b = sum(v[0] for v in b.values()) / py_steps / 1e3
        print(f"\n{phase}: C++ {total_a:.1f} ms, Python {total_b:.1f} ms of operator time per step")
        print(f"{'operator':60s} {'C++ ms':>8s} {'calls':>6s} {'Py ms':>8s} {'calls':>6s} {'diff':>8s}")
        rows = []
        for name in set(a) | set(b):
            ta, ca = a.get(name, [0.0, 0])
            tb, cb = b.get(name, [0.0, 0])
            rows.append((ta / cpp_steps / 1e3, ca // cpp_steps, tb / py_steps / 1e3,
                         cb // py_steps, name))
        rows.sort(key=lambda r: -abs(r[0] - r[2]))
        for ta, ca, tb, cb, name in rows[: args.top]:
            print(f"{name[:60]:60s} {ta:8.2f} {ca:6d} {tb:8.2f} {cb:6d} {ta - tb:+8.2f}")


if __name__ == "__main__":
    main()
