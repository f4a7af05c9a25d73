#!/usr/bin/env python3
"""Write a synthetic CIFAR-10 (or CIFAR-100) data set in the official binary layout, for load-time and
speed benchmarks of `[data] dataset = "cifar10"` where the real files are absent. Standard library only.

  python3 bench/make_synthetic_cifar.py OUT_DIR [--train 50000] [--test 10000] [--cifar100] [--seed 0]

CIFAR-10: OUT_DIR/cifar-10-batches-bin/data_batch_{1..5}.bin + test_batch.bin, records <label><3072 pixels>.
CIFAR-100: OUT_DIR/cifar-100-binary/train.bin + test.bin, records <coarse><fine><3072 pixels>.
Pixels are random bytes; labels cycle through the classes (balanced).
"""
import argparse
import os
import random


def write(path, first, n, cifar100, rng):
    with open(path, "wb") as f:
        for j in range(first, first + n):
            label = bytes([j % 20, j % 100]) if cifar100 else bytes([j % 10])
            f.write(label + rng.randbytes(3072))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--train", type=int, default=50000)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--cifar100", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    if a.cifar100:
        d = os.path.join(a.out, "cifar-100-binary")
        os.makedirs(d, exist_ok=True)
        write(os.path.join(d, "train.bin"), 0, a.train, True, rng)
        write(os.path.join(d, "test.bin"), 0, a.test, True, rng)
    else:
        d = os.path.join(a.out, "cifar-10-batches-bin")
        os.makedirs(d, exist_ok=True)
        per = [a.train // 5 + (1 if b < a.train % 5 else 0) for b in range(5)]
        first = 0
        for b in range(5):
            write(os.path.join(d, "data_batch_%d.bin" % (b + 1)), first, per[b], False, rng)
            first += per[b]
        write(os.path.join(d, "test_batch.bin"), 0, a.test, False, rng)
    print(d)


if __name__ == "__main__":
    main()
