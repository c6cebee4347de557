#!/usr/bin/python3
"""Time scipy's per-column statistics on the benchmark matrix (the peer of
gnaudit stats in scripts/bench_stats.sh) and print the timings as JSON.

  Shapiro-Wilk: a Python loop of scipy.stats.shapiro over the first SW_COLS
    columns (default all), best of SW_REPEAT runs; the per-column time is
    scaled to all columns when SW_COLS is smaller (stated in the output).
  Moments: scipy.stats.skew(a, axis=0) + scipy.stats.kurtosis(a, axis=0),
    best of MOM_REPEAT runs, both on the float32 array as loaded and on a
    float64 copy (the copy is made outside the timing); the faster counts.

usage: scipy_stats.py MATRIX.npy [SW_COLS] [SW_REPEAT] [MOM_REPEAT]
"""
import json
import sys
import time

import numpy as np
import scipy
import scipy.stats


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), times


def main():
    path = sys.argv[1]
    t0 = time.perf_counter()
    a = np.load(path)
    load_s = time.perf_counter() - t0
    rows, cols = a.shape
    sw_cols = int(sys.argv[2]) if len(sys.argv) > 2 else cols
    sw_cols = min(sw_cols, cols)
    sw_repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    mom_repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 3

    def sw():
        w = np.empty(sw_cols)
        for j in range(sw_cols):
            w[j] = scipy.stats.shapiro(a[:, j])[0]
        return w

    sw_s, sw_all = best(sw, sw_repeat)

    def moments(x):
        return lambda: (scipy.stats.skew(x, axis=0), scipy.stats.kurtosis(x, axis=0))

    mom32_s, mom32_all = best(moments(a), mom_repeat)
    a64 = a.astype(np.float64)
    mom64_s, mom64_all = best(moments(a64), mom_repeat)

    print(json.dumps({
        "scipy": scipy.__version__, "numpy": np.__version__,
        "rows": rows, "cols": cols, "load_s": load_s,
        "shapiro_cols_timed": sw_cols, "shapiro_s_timed": sw_s, "shapiro_runs": sw_all,
        "shapiro_s_all_cols": sw_s * cols / sw_cols, "shapiro_scaled": sw_cols < cols,
        "moments_f32_s": mom32_s, "moments_f32_runs": mom32_all,
        "moments_f64_s": mom64_s, "moments_f64_runs": mom64_all,
        "moments_s": min(mom32_s, mom64_s),
    }))


if __name__ == "__main__":
    main()
