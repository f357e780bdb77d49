# The CPython workload (run with PYTHONMALLOC=malloc): objects, strings,
# dicts, lists and JSON, as a script's data processing does.
import json, random
random.seed(7)
records = [{"id": i, "name": "user%d" % i, "tags": ["t%d" % (i % 13), "g%d" % (i % 7)],
            "score": random.random(), "text": "x" * random.randint(0, 300)} for i in range(60000)]
by_tag = {}
for r in records:
    for t in r["tags"]:
        by_tag.setdefault(t, []).append(r["id"])
blob = json.dumps(records)
back = json.loads(blob)
words = blob.split(",")
counts = {}
for w in words:
    counts[w[:12]] = counts.get(w[:12], 0) + 1
records.sort(key=lambda r: (r["score"], r["name"]))
del blob, words
summary = sorted(counts.items(), key=lambda kv: -kv[1])[:5]
text = "\n".join("%s %f" % (r["name"], r["score"]) for r in back[:20000])
print(len(records), len(by_tag), len(back), len(summary), len(text))
