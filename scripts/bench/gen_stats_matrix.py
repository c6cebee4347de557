#!/usr/bin/python3
"""Write the benchmark matrix of scripts/bench_stats.sh: ROWS x COLS float32,
rows = observations, fixed seed. Columns cycle through four laws so that the
Shapiro-Wilk inputs are realistic: normal, Student t(4), uniform, Laplace.

usage: gen_stats_matrix.py OUT.npy [ROWS] [COLS] [SEED]
"""
import sys

import numpy as np


def main():
    out = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    cols = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 20240611
    rng = np.random.default_rng(seed)
    m = np.empty((rows, cols), dtype=np.float32)
    m[:, 0::4] = rng.normal(0.0, 1.0, (rows, len(range(0, cols, 4))))
    m[:, 1::4] = rng.standard_t(4, (rows, len(range(1, cols, 4))))
    m[:, 2::4] = rng.uniform(-1.0, 1.0, (rows, len(range(2, cols, 4))))
    m[:, 3::4] = rng.laplace(0.0, 1.0, (rows, len(range(3, cols, 4))))
    np.save(out, m, allow_pickle=False)
    print(f"wrote {out}: {rows} x {cols} float32, seed {seed}")


if __name__ == "__main__":
    main()
