"""One-off script that produced python/cnnkit/vision/datasets/digits.npz.

Source: the 1,797 8x8 images of the UCI "Optical Recognition of Handwritten Digits" data set
(Alpaydin & Kaynak, 1998; CC BY 4.0), read from the copy bundled with scikit-learn
(`sklearn.datasets.load_digits`, which is the UCI `optdigits.tes` file). scikit-learn is only needed
to run this script once; cnnkit never imports it.

What this script changes: pixel counts (0..16, stored by scikit-learn as float64) become uint8,
labels become int64, and the images are split once into a fixed stratified train/test split
(1,437 / 360). Per class, the number of test images is 360 * class_count / 1797 rounded by the
largest-remainder method (so the total is exactly 360); which images go to the test set is drawn
by a permutation from numpy's PCG64 generator seeded with SEED. The seed and the original indices
are stored in the file so the split can be audited.

Usage:  python tools/make_digits.py [output.npz]
"""
import os
import sys

import numpy as np

SEED = 20240601
N_TEST = 360


def stratified_split(labels, n_test, seed):
    """Return (train_idx, test_idx), each sorted, with per-class test counts by largest remainder."""
    classes, counts = np.unique(labels, return_counts=True)
    quota = n_test * counts / counts.sum()
    take = np.floor(quota).astype(np.int64)
    # Hand the leftover test slots to the classes with the largest fractional parts (ties: lowest class).
    order = sorted(range(len(classes)), key=lambda k: (-(quota[k] - take[k]), k))
    for k in order[: n_test - int(take.sum())]:
        take[k] += 1
    rng = np.random.default_rng(seed)
    test = []
    for k, c in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        test.append(idx[rng.permutation(len(idx))[: take[k]]])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def main(out):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images
    assert images.shape == (1797, 8, 8)
    assert np.all(images == np.round(images)) and images.min() >= 0 and images.max() <= 16
    images = images.astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    train, test = stratified_split(labels, N_TEST, SEED)
    np.savez_compressed(
        out,
        train_images=images[train],
        train_labels=labels[train],
        test_images=images[test],
        test_labels=labels[test],
        train_indices=train.astype(np.int64),
        test_indices=test.astype(np.int64),
        seed=np.int64(SEED),
    )
    print(f"wrote {out}: train {len(train)}, test {len(test)}, "
          f"test per class {np.bincount(labels[test]).tolist()}, {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "python", "cnnkit", "vision", "datasets", "digits.npz")
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(default))
