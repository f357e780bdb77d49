#!/usr/bin/env bash
# Real programs and C allocation benchmarks under each malloc: glibc (the
# system's), allocator-malloc with the slab engine and with the TLSF engine
# and with the slab engine behind per-thread caches (LD_PRELOAD), and mimalloc (built here as a shared library from the
# libmimalloc-sys sources already in the cargo registry, if present).
# Reports elapsed time, CPU time and peak RSS (/usr/bin/time), the median of
# REPS runs (default 3), and the ratio to glibc.
#
#   bash allocator-capi/bench/run.sh            # everything, about 6 minutes
#   REPS=1 bash allocator-capi/bench/run.sh     # quicker
#
# Writes the table to target/capi-bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS="${REPS:-3}"
out=target/capi-bench
mkdir -p "$out"
[[ -x /usr/bin/time ]] || { echo "run.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
command -v cc >/dev/null || { echo "run.sh: needs a C compiler (cc)" >&2; exit 1; }

echo "== building the shims (release)"
cargo build -q --release -p allocator-malloc
cp target/release/liballocator_malloc.so "$out/liballocator_malloc-slab.so"
cargo build -q --release -p allocator-malloc --no-default-features --features tlsf
cp target/release/liballocator_malloc.so "$out/liballocator_malloc-tlsf.so"
cargo build -q --release -p allocator-malloc --features percpu
cp target/release/liballocator_malloc.so "$out/liballocator_malloc-slab-percpu.so"

mimalloc_src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/libmimalloc-sys-*/c_src/mimalloc/v2 2>/dev/null | tail -1 || true)
names=(glibc slab tlsf slab+percpu)
libs=("" "$PWD/$out/liballocator_malloc-slab.so" "$PWD/$out/liballocator_malloc-tlsf.so" "$PWD/$out/liballocator_malloc-slab-percpu.so")
if [[ -n $mimalloc_src ]]; then
  echo "== building mimalloc from $mimalloc_src"
  cc -O2 -fPIC -shared -DNDEBUG -DMI_MALLOC_OVERRIDE -I"$mimalloc_src/include" "$mimalloc_src/src/static.c" \
    -o "$out/libmimalloc.so" -lpthread
  names+=(mimalloc)
  libs+=("$PWD/$out/libmimalloc.so")
else
  echo "== no mimalloc sources in the cargo registry: mimalloc skipped"
fi

echo "== building the C benchmark and the inputs"
cc -O2 -pthread allocator-capi/bench/cbench.c -o "$out/cbench" -ldl
for i in "${!names[@]}"; do
  [[ -z ${libs[$i]} ]] && continue
  which=$(LD_PRELOAD="${libs[$i]}" "$out/cbench" which)
  [[ $which == "${libs[$i]}" ]] || { echo "run.sh: under ${names[$i]}, malloc is $which" >&2; exit 1; }
done
python=$(python3 -c 'import sys; print(sys.executable)')
[[ -f $out/lines.txt ]] || python3 -c '
import random
random.seed(7)
with open("'"$out"'/lines.txt", "w") as f:
    for i in range(600000):
        f.write("%08x %s\n" % (random.getrandbits(32), "x" * random.randint(5, 80)))'
[[ -f $out/big.c ]] || python3 -c '
with open("'"$out"'/big.c", "w") as f:
    for i in range(1500):
        f.write("int f%d(int *a, int n) { int s = 0; for (int i = 0; i < n; i++) { s += a[i] * %d; if (s > %d) s ^= a[(i * 7) %% n]; } return s; }\n" % (i, i, i * 13))'
[[ -f $out/lines10.txt ]] || head -c 10000000 "$out/lines.txt" > "$out/lines10.txt"
cat > "$out/alloc.py" <<'PY'
import json
rows = [{"id": i, "name": "user%d" % i, "tags": ["t%d" % (i % 7), "u%d" % (i % 13)], "score": i * 0.5} for i in range(300000)]
text = json.dumps(rows)
back = json.loads(text)
index = {}
for row in back:
    index.setdefault(row["tags"][0], []).append(row["name"].upper())
print(len(text), sum(len(v) for v in index.values()))
PY
cat > "$out/sqlite.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, 'name' || x, x % 97, hex(randomblob(40)) FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, payload);
SELECT grp, count(*), max(length(payload)) FROM t GROUP BY grp ORDER BY 2 DESC LIMIT 3;
SELECT count(*) FROM t a JOIN t b ON a.grp = b.grp AND a.id = b.id + 97;
SQL

workloads=(
  "python|env PYTHONMALLOC=malloc $python $out/alloc.py"
  "sort|sort $out/lines.txt -o /dev/null"
  "gcc -O2|cc -O2 -c $out/big.c -o /dev/null"
  "xz|xz -T1 -6 -c $out/lines10.txt"
  "cbench sizes|$out/cbench sizes 10000000"
  "cbench larson 2T|$out/cbench larson 2 10000000"
)
if command -v sqlite3 >/dev/null; then
  workloads+=("sqlite3|sqlite3 :memory: < $out/sqlite.sql")
else
  echo "== sqlite3 not installed: skipped (apt-get install sqlite3 to add it)"
fi

# run LIB CMD: prints "elapsed cpu maxrss_kib" medians over REPS runs.
run() {
  local lib=$1 cmd=$2 e=() c=() m=()
  for _ in $(seq "$REPS"); do
    if [[ -n $lib ]]; then
      /usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" env LD_PRELOAD="$lib" bash -c "exec $cmd" >/dev/null
    else
      /usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" bash -c "exec $cmd" >/dev/null
    fi
    read -r el us sy rss < <(tail -1 "$out/time.txt")
    e+=("$el"); c+=("$(echo "$us + $sy" | bc)"); m+=("$rss")
  done
  median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  echo "$(median "${e[@]}") $(median "${c[@]}") $(median "${m[@]}")"
}

header="| workload |"
rule="|---|"
for n in "${names[@]}"; do header+=" $n time s (cpu s) | $n peak RSS MiB |"; rule+="---|---|"; done
{
  echo "Medians of $REPS runs; ratios to glibc in brackets. $(nproc) CPUs, $(date -u +%Y-%m-%d)."
  echo
  echo "$header"
  echo "$rule"
} > "$out/results.md"
for w in "${workloads[@]}"; do
  label=${w%%|*} cmd=${w#*|}
  echo "== $label"
  line="| $label |"
  base_e="" base_m=""
  for i in "${!names[@]}"; do
    read -r el cpu rss < <(run "${libs[$i]}" "$cmd")
    mib=$(echo "scale=1; $rss / 1024" | bc)
    if [[ -z $base_e ]]; then
      base_e=$el base_m=$rss
      line+=" $el ($cpu) | $mib |"
    else
      rt=$(echo "scale=2; $el / $base_e" | bc) rm=$(echo "scale=2; $rss / $base_m" | bc)
      line+=" $el ($cpu) [${rt}x] | $mib [${rm}x] |"
    fi
    echo "   ${names[$i]}: ${el}s elapsed, ${cpu}s cpu, ${mib} MiB peak"
  done
  echo "$line" >> "$out/results.md"
done
echo
cat "$out/results.md"
