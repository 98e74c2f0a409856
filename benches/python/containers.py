"""dict, list and tuple churn: an in-memory table of records (dicts) with
secondary indexes (dicts of lists), rows as tuples, updated, queried,
evicted and rebuilt, the way a small service keeps its state.

Each round inserts a batch of records, updates some, evicts the oldest ones
(so the table holds a rolling window, not an ever-growing heap), rebuilds an
index from scratch, and runs a few queries that make lists and tuples.
"""

import _harness

WINDOW = 30_000
BATCH = 5_000
CITIES = ["Lyon", "Oslo", "Lima", "Kyiv", "Pune", "Cork", "Bern", "Nara"]


def work(rounds):
    table = {}                  # id -> record (a dict)
    by_city = {}                # city -> list of ids
    next_id = 0
    oldest = 0
    digest = 0
    for r in range(rounds):
        # Insert a batch of records.
        for _ in range(BATCH):
            i = next_id
            next_id += 1
            city = CITIES[(i * 7 + r) % len(CITIES)]
            record = {"id": i, "name": "user%d" % i, "city": city,
                      "score": (i * 2654435761) % 1000,
                      "tags": ["t%d" % (i % 11), "t%d" % (i % 17)],
                      "pos": (i % 101, i % 103)}
            table[i] = record
            by_city.setdefault(city, []).append(i)
        # Update one record in five: new dicts merged in, a tag list grown.
        for i in range(oldest, next_id, 5):
            record = table[i]
            record.update({"score": (record["score"] + r) % 1000, "seen": r})
            record["tags"] = record["tags"] + ["r%d" % r]
        # Evict the oldest records beyond the window.
        while next_id - oldest > WINDOW:
            del table[oldest]
            oldest += 1
        # Rebuild the index from the live records (the old one is freed).
        by_city = {}
        for i, record in table.items():
            by_city.setdefault(record["city"], []).append(i)
        # Queries: rows as tuples, sorted, sliced, grouped.
        rows = [(rec["score"], rec["name"], rec["pos"]) for rec in table.values()]
        rows.sort()
        top = rows[-100:]
        groups = {}
        for score, name, pos in rows[::3]:
            groups.setdefault(score // 100, []).append((name, pos[0] + pos[1]))
        digest = (digest * 31 + len(table) + sum(s for s, _, _ in top)
                  + sum(len(g) for g in groups.values())
                  + len(by_city[CITIES[r % len(CITIES)]])) % (1 << 61)
    return digest


if __name__ == "__main__":
    _harness.main(work, size=18, quick_size=2)
