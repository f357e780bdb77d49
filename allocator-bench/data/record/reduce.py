"""Reduces a trace written by trace.c to the size distribution the
`real-sizes` suite replays: for each (size, align), how many blocks were live
when the live requested bytes peaked, and how many were allocated in all.

    python3 reduce.py TRACE NAME > ../sizes-NAME.csv
"""
import sys
from collections import Counter

live = {}          # ptr -> (size, align)
live_bytes = peak_bytes = 0
peak_live = Counter()
allocated = Counter()
events = 0
peak_at = 0

def alloc(ptr, size, align):
    global live_bytes
    live[ptr] = (size, align)
    live_bytes += size
    allocated[(size, align)] += 1

def free(ptr):
    global live_bytes
    block = live.pop(ptr, None)
    if block:
        live_bytes -= block[0]

with open(sys.argv[1]) as trace:
    for line in trace:
        parts = line.split()
        events += 1
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
            peak_bytes, peak_at = live_bytes, events
            peak_snapshot = None
        # Taking the snapshot at every new peak is quadratic; remember where
        # the peak was and replay to it below.
print(f"# {sys.argv[2]}: {events} calls; live requested bytes peaked at {peak_bytes} after call {peak_at}", file=sys.stderr)

live.clear()
live_bytes = 0
allocated_total = allocated
allocated = Counter()
with open(sys.argv[1]) as trace:
    for n, line in enumerate(trace, 1):
        parts = line.split()
        if parts[0] == "a":
            alloc(parts[1], int(parts[2]), int(parts[3]))
        elif parts[0] == "f":
            free(parts[1])
        elif parts[0] == "r":
            align = live.get(parts[1], (0, 16))[1]
            free(parts[1])
            if parts[2] != "(nil)":
                alloc(parts[2], int(parts[3]), align)
        if n == peak_at:
            break
peak_live = Counter(live.values())

print(f"# {sys.argv[2]}: the size distribution of a real program's heap, recorded with")
print(f"# allocator-bench/data/record/record.sh ({events} allocation calls; live requested")
print(f"# bytes peaked at {peak_bytes}). size,align,live_at_peak,allocations")
for key in sorted(set(peak_live) | set(allocated_total)):
    print(f"{key[0]},{key[1]},{peak_live.get(key, 0)},{allocated_total.get(key, 0)}")
