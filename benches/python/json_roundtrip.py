"""JSON dumps and loads: a generated document of nested objects (an
inventory of orders with customers, items and notes) encoded and decoded
again and again, compact and indented, with ``json``'s C accelerator."""

import json

import _harness

ORDERS = 4_000


def document(n):
    """A deterministic document with ``n`` orders: dicts, lists, strings of
    mixed lengths, ints, floats, booleans, nulls and some non-ASCII text."""
    orders = []
    for i in range(n):
        items = [{"sku": "SKU-%05d" % ((i * 31 + k) % 99991),
                  "qty": 1 + (i + k) % 9,
                  "price": round(0.99 + ((i * k) % 500) / 7.0, 2),
                  "gift": (i + k) % 6 == 0}
                 for k in range(1 + i % 7)]
        orders.append({
            "id": i,
            "customer": {"name": "Customer %d" % i,
                         "email": "c%d@example.org" % i,
                         "city": ["Zürich", "Kraków", "São Paulo", "Oslo"][i % 4],
                         "vip": i % 10 == 0},
            "items": items,
            "note": None if i % 3 else "leave at the door, " * (1 + i % 12),
            "total": sum(it["qty"] * it["price"] for it in items),
        })
    return {"version": 3, "orders": orders}


def work(rounds):
    doc = document(ORDERS)
    digest = 0
    for r in range(rounds):
        if r % 4 == 3:
            text = json.dumps(doc, indent=2, sort_keys=True)
        else:
            text = json.dumps(doc)
        back = json.loads(text)
        digest = (digest * 31 + len(text) + len(back["orders"])) % (1 << 61)
        # Carry the decoded copy forward, so each round frees the previous
        # document and works on memory the decoder made.
        doc = back
    return digest


if __name__ == "__main__":
    _harness.main(work, size=16, quick_size=2)
