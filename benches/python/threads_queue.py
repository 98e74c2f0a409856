"""A threaded producer/consumer: producer threads make work items (a
dict with a list and a tuple in it), ``queue.Queue`` carries them to
consumer threads, which summarise each item into a result object kept in
a bounded window. Almost every block is made on one thread and freed on
another, and ``queue.Queue``'s conditions make locks as they wait."""

import collections
import queue
import threading

import _harness

PRODUCERS = 2
CONSUMERS = 2
QUEUE_SIZE = 256
KEEP = 5_000            # results each consumer keeps alive


class Result:
    __slots__ = ("key", "total", "words")

    def __init__(self, key, total, words):
        self.key = key
        self.total = total
        self.words = words


def produce(q, first, count):
    for i in range(first, first + count):
        item = {"id": i, "key": "item-%d" % i,
                "values": [i % 97, i % 89, i % 83, i % 79, i % 73],
                "shape": (i % 5, i % 7),
                "text": "word " * (1 + i % 9)}
        q.put(item)


def consume(q, totals, index):
    window = collections.deque(maxlen=KEEP)
    total = 0
    while True:
        item = q.get()
        if item is None:
            break
        result = Result(item["key"], sum(item["values"]) * item["shape"][0],
                        item["text"].split())
        window.append(result)
        total += result.total + len(result.words)
    # The window is only kept alive (the memory a real consumer holds);
    # which items it holds depends on the scheduling, so it is not summed.
    totals[index] = total


def work(items):
    q = queue.Queue(QUEUE_SIZE)
    totals = [0] * CONSUMERS
    share = items // PRODUCERS
    producers = [threading.Thread(target=produce, args=(q, p * share, share))
                 for p in range(PRODUCERS)]
    consumers = [threading.Thread(target=consume, args=(q, totals, c))
                 for c in range(CONSUMERS)]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join()
    for _ in consumers:
        q.put(None)
    for t in consumers:
        t.join()
    return sum(totals)


if __name__ == "__main__":
    _harness.main(work, size=300_000, quick_size=5_000)
