#!/usr/bin/env python3
"""Writes the checked-in seed corpus: fuzz/corpus/<target>/seed-*.

Each seed is an operation tape in the format of the testkit's decoders
(allocator_testkit::props::{byte,page,id}_ops_from_tape): a tag byte, then
the operation's bytes. Run from the repository root: python3 fuzz/seeds.py
"""
import os
import random
import struct


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


# Byte tapes. size(): tag % 16 == 0 -> usize::MAX - low, 1 -> isize::MAX - low,
# 2 -> low << 8, otherwise low % 2048.
def b_alloc(size, align_log2, kind=3):
    return bytes([0, kind]) + u16(size) + bytes([align_log2])


def b_free(index):
    return bytes([4]) + u16(index)


def b_realloc(index, size, kind=3):
    return bytes([6]) + u16(index) + bytes([kind]) + u16(size)


def b_add(size):
    return bytes([8]) + u16(size >> 4)


def byte_seeds(rng):
    seeds = {}
    tape = b""
    for i in range(80):
        tape += b_alloc(rng.choice([0, 1, 8, 24, 100, 500, 2047]), rng.randrange(0, 13))
    for i in range(80):
        tape += b_free(rng.randrange(0, 80))
    seeds["fill-free"] = tape
    tape = b""
    for i in range(20):
        tape += b_alloc(rng.randrange(0, 2048), rng.randrange(0, 8))
    for i in range(60):
        tape += b_realloc(rng.randrange(0, 20), rng.randrange(0, 2048), rng.choice([2, 3, 3, 3]))
    seeds["realloc"] = tape
    tape = b""
    for size in [4096, 65536, 20000, 300000]:
        tape += b_add(size)
        for i in range(10):
            tape += b_alloc(rng.randrange(0, 40), rng.randrange(0, 13), kind=2)
    seeds["regions"] = tape
    tape = b""
    for kind in [0, 1, 2]:
        for low in [0, 1, 7, 4095, 65535]:
            tape += b_alloc(low, rng.randrange(0, 13), kind=kind)
            tape += b_alloc(16, 3)
    tape += b_realloc(0, 0, kind=0) + b_realloc(1, 5, kind=1)
    seeds["huge"] = tape
    seeds["random"] = bytes(rng.randrange(256) for _ in range(1024))
    return seeds


def page_seeds(rng):
    alloc = lambda pages, align: bytes([0, pages, align])
    alloc_at = lambda page, region, pages, align: bytes([3]) + u16(page) + bytes([region, pages, align])
    free = lambda index, split: bytes([4]) + u16(index) + bytes([split])
    add = lambda pages: bytes([7]) + u16(pages)
    seeds = {}
    seeds["fill-free"] = b"".join(alloc(rng.randrange(0, 40), rng.randrange(0, 8)) for _ in range(40)) + b"".join(
        free(rng.randrange(0, 40), rng.choice([0, 0, 1, 7])) for _ in range(40))
    seeds["alloc-at"] = b"".join(alloc_at(p, r, rng.randrange(8), rng.randrange(4))
                                 for p in [0, 1, 3, 4, 5, 100, 259, 260, 261, 300] for r in [0, 1]) + add(100) + b"".join(
        alloc_at(p, 1, 2, 0) for p in [0, 3, 4, 50, 103, 104, 105])
    seeds["regions-huge"] = add(1) + add(513) + alloc(255, 0) + alloc(250, 7) + b"".join(
        alloc(rng.randrange(0, 40), rng.randrange(0, 8)) for _ in range(30)) + free(5, 3) + free(2, 0)
    seeds["random"] = bytes(rng.randrange(256) for _ in range(1024))
    return seeds


def id_seeds(rng):
    alloc = lambda count, align: bytes([0, count, align])
    fixed = lambda offset: bytes([1]) + u16(offset)
    free = lambda index, split: bytes([2]) + u16(index) + bytes([split])
    seeds = {}
    seeds["fill-free"] = b"".join(alloc(rng.randrange(40), rng.randrange(8)) for _ in range(40)) + b"".join(
        free(rng.randrange(40), rng.choice([0, 0, 1, 5])) for _ in range(40))
    seeds["fixed"] = b"".join(fixed(o) for o in [0, 1, 2, 3, 4, 5, 100, 259, 260, 261, 263, 264]) + b"".join(
        alloc(c, a) for c, a in [(0, 0), (39, 7), (1, 0), (7, 3)]) + free(0, 0) + fixed(4)
    seeds["random"] = bytes(rng.randrange(256) for _ in range(1024))
    return seeds


def main():
    rng = random.Random(0x5EED)
    groups = {
        ("tlsf", "buddy", "slab_buddy", "slab_tlsf", "slab_malloc"): byte_seeds(rng),
        ("bitmap_pages",): page_seeds(rng),
        ("bitmap_ids",): id_seeds(rng),
    }
    for targets, seeds in groups.items():
        for target in targets:
            directory = os.path.join("fuzz", "corpus", target)
            os.makedirs(directory, exist_ok=True)
            for name, tape in seeds.items():
                with open(os.path.join(directory, f"seed-{name}"), "wb") as f:
                    f.write(tape)


if __name__ == "__main__":
    main()
