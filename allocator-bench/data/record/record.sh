#!/usr/bin/env bash
# Records the size distributions the `real-sizes` suite replays
# (../sizes-sqlite.csv, ../sizes-cpython.csv). Run once, by hand, on Linux
# with glibc, a C compiler, sqlite3 and python3; the files are committed.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -shared -fPIC -o "$work/trace.so" trace.c
ALLOC_TRACE="$work/sqlite.trace" LD_PRELOAD="$work/trace.so" sqlite3 :memory: < sqlite.sql > /dev/null
python3 reduce.py "$work/sqlite.trace" sqlite > ../sizes-sqlite.csv
# The interpreter itself, not a version manager's wrapper script.
python=$(python3 -c 'import sys; print(sys.executable)')
ALLOC_TRACE="$work/cpython.trace" PYTHONMALLOC=malloc LD_PRELOAD="$work/trace.so" "$python" python.py > /dev/null
python3 reduce.py "$work/cpython.trace" cpython > ../sizes-cpython.csv
