#!/usr/bin/env python3
"""Plain NumPy reference for plexus's CIFAR-10 loader: read the six binary files, split labels and pixels,
convert to float32 [n,3,32,32] on the [0,1] scale and normalize with CIFAR-10's mean/std, as
`plexus data info --dataset cifar10` does. Prints JSON with seconds and peak RSS (MiB).

  python3 bench/cifar_load_reference.py DIR    (DIR holds cifar-10-batches-bin/ or is it)
"""
import json
import os
import resource
import sys
import time

import numpy as np

MEAN = np.array([0.49139968, 0.48215827, 0.44653124], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.24703233, 0.24348505, 0.26158768], np.float32).reshape(1, 3, 1, 1)


def load(files):
    recs = [np.fromfile(f, np.uint8).reshape(-1, 3073) for f in files]
    y = np.concatenate([r[:, 0] for r in recs]).astype(np.int64)
    x = np.empty((len(y), 3, 32, 32), np.float32)
    at = 0
    for r in recs:
        x[at:at + len(r)] = r[:, 1:].reshape(-1, 3, 32, 32)
        at += len(r)
    x /= 255.0
    x -= MEAN
    x /= STD
    return x, y


def main():
    d = sys.argv[1]
    if os.path.isdir(os.path.join(d, "cifar-10-batches-bin")):
        d = os.path.join(d, "cifar-10-batches-bin")
    t0 = time.perf_counter()
    xtr, ytr = load([os.path.join(d, "data_batch_%d.bin" % b) for b in range(1, 6)])
    xte, yte = load([os.path.join(d, "test_batch.bin")])
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"impl": "numpy", "seconds": round(secs, 3), "peak_rss_mib": round(rss, 1),
                      "train_shape": list(xtr.shape), "test_shape": list(xte.shape),
                      "train_mean": float(xtr.mean())}))


if __name__ == "__main__":
    main()
