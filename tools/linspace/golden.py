#!/usr/bin/env python3
"""Writes internal/linspace/testdata/numpy_linspace.txt: NumPy's integer linspace, the
frame selection ThinkJEPA upstream uses (np.linspace(0, N-1, num).astype(np.int64) and
np.linspace(0, N-1, num, dtype=np.int64)), for every N in 1..20000 and num in 16, 32, 48, 64.

The full table is 20000 rows per num, so the file keeps only what a test needs to rebuild
it: the (N, i) where NumPy's value is not the exact floor(i*(N-1)/(num-1)) (it is then one
less), and a sha256 of each full table to check the rebuild. Deterministic; run with the
system interpreter (numpy):

    /usr/bin/python3 tools/linspace/golden.py > internal/linspace/testdata/numpy_linspace.txt
"""
import hashlib
import sys

import numpy as np

NMAX = 20000
NUMS = (16, 32, 48, 64)


def main():
    out = sys.stdout
    out.write("# numpy.linspace(0, N-1, num).astype(np.int64) for N in 1..%d\n" % NMAX)
    out.write("# written by tools/linspace/golden.py (numpy %s); do not edit\n" % np.__version__)
    out.write("# sha256 NUM HEX: the full table, row N = its num values joined by ',' plus '\\n'\n")
    out.write("# below NUM N I...: NumPy's value at i is floor(i*(N-1)/(num-1)) - 1; elsewhere the exact floor\n")
    out.write("range 1 %d\n" % NMAX)
    below = []
    for num in NUMS:
        h = hashlib.sha256()
        i = np.arange(num, dtype=np.int64)
        for n in range(1, NMAX + 1):
            y = np.linspace(0, n - 1, num).astype(np.int64)
            y2 = np.linspace(0, n - 1, num, dtype=np.int64)
            if not np.array_equal(y, y2):
                sys.exit("num %d, N %d: astype and dtype=int64 differ: %s %s" % (num, n, y, y2))
            h.update((",".join(str(int(v)) for v in y) + "\n").encode())
            exact = i * (n - 1) // (num - 1) if num > 1 else np.zeros(num, np.int64)
            d = np.nonzero(y != exact)[0]
            if len(d):
                if not np.array_equal(y[d], exact[d] - 1):
                    sys.exit("num %d, N %d: NumPy differs from the exact floor by more than one" % (num, n))
                below.append("below %d %d %s\n" % (num, n, " ".join(str(int(k)) for k in d)))
        out.write("sha256 %d %s\n" % (num, h.hexdigest()))
    out.writelines(below)


if __name__ == "__main__":
    main()
