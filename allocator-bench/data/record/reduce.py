"""Reduces a trace written by trace.c to the size distribution the
`real-sizes` suite replays: for each (size, align), how many blocks were live
when the live requested bytes peaked, and how many were allocated in all.

    python3 reduce.py TRACE NAME > ../sizes-NAME.csv
"""
import sys
from collections import Counter

def replay(path, stop_at=None):
    """Replays the trace up to call `stop_at` (all of it when None): the
    blocks live then, the allocations made per (size, align), the calls
    read, and the call after which live requested bytes peaked."""
    live, allocated = {}, Counter()
    live_bytes = peak_bytes = peak_at = calls = 0

    def alloc(ptr, size, align):
        nonlocal live_bytes
        live[ptr] = (size, align)
        live_bytes += size
        allocated[(size, align)] += 1

    def free(ptr):
        nonlocal live_bytes
        block = live.pop(ptr, None)
        if block:
            live_bytes -= block[0]

    with open(path) as trace:
        for line in trace:
            parts = line.split()
            calls += 1
            if parts[0] == "a":
                alloc(parts[1], int(parts[2]), int(parts[3]))
            elif parts[0] == "f":
                free(parts[1])
            elif parts[0] == "r":
                align = live.get(parts[1], (0, 16))[1]
                free(parts[1])
                if parts[2] != "(nil)":
                    alloc(parts[2], int(parts[3]), align)
            if live_bytes > peak_bytes:
                peak_bytes, peak_at = live_bytes, calls
            if calls == stop_at:
                break
    return live, allocated, calls, peak_at, peak_bytes


# Two passes: the first finds the peak, the second stops there to take the
# live set (a snapshot at every new peak would be quadratic).
_, allocated_total, events, peak_at, peak_bytes = replay(sys.argv[1])
print(f"# {sys.argv[2]}: {events} calls; live requested bytes peaked at {peak_bytes} after call {peak_at}", file=sys.stderr)
live, _, _, _, _ = replay(sys.argv[1], peak_at)
peak_live = Counter(live.values())

print(f"# {sys.argv[2]}: the size distribution of a real program's heap, recorded with")
print(f"# allocator-bench/data/record/record.sh ({events} allocation calls; live requested")
print(f"# bytes peaked at {peak_bytes}). size,align,live_at_peak,allocations")
for key in sorted(set(peak_live) | set(allocated_total)):
    print(f"{key[0]},{key[1]},{peak_live.get(key, 0)},{allocated_total.get(key, 0)}")
