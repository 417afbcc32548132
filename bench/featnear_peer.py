"""featnear's peer in make bench: numpy's brute force. The index is
loaded whole, normalised, and each block of queries is normalised, one
matrix product against it, and a stable argsort per query keeps the k
best; the neighbours are written as CSV, as featnear writes them.

    featnear_peer.py INDEX K BATCH QUERIES > neighbours.csv
"""
import sys

import msgpack
import numpy as np


def load(path):
    ids, rows = [], []
    with open(path, "rb") as f:
        for o in msgpack.Unpacker(f, raw=False):
            if "features" in o:
                ids.append(o["id"])
                rows.append(np.frombuffer(o["features"]["data"], "<f4"))
    return ids, np.array(rows, dtype=np.float32)


def unit(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1)


def main():
    index, k, batch, queries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    xid, x = load(index)
    x = unit(x)
    qid, q = load(queries)
    out = sys.stdout
    out.write("query,neighbour,rank,similarity\n")
    for start in range(0, len(q), batch):
        sim = unit(q[start:start + batch]) @ x.T
        for i, row in enumerate(sim):
            best = np.argsort(-row, kind="stable")[:k + 1]
            rank = 0
            for j in best:
                if xid[j] == qid[start + i] or rank == k:
                    continue
                rank += 1
                out.write("%s,%s,%d,%.6f\n" % (qid[start + i], xid[j], rank, row[j]))


if __name__ == "__main__":
    main()
