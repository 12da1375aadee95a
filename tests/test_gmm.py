import numpy as np

from memotion_tf.resampling.gmm import gmm_oversample


def _data(seed=0):
    rng = np.random.default_rng(seed)
    counts = [12, 30, 60]
    x = np.concatenate([rng.integers(0, 50, size=(n, 16)) + 5 * c for c, n in enumerate(counts)])
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    return x.astype(np.int32), y


def test_output_is_balanced_and_keeps_the_originals():
    x, y = _data()
    x2, y2 = gmm_oversample(x, y, vocabulary_size=120, seed=0)
    assert np.bincount(y2).tolist() == [60, 60, 60]
    np.testing.assert_array_equal(x2[: len(x)], x)
    np.testing.assert_array_equal(y2[: len(y)], y)


def test_samples_are_valid_token_ids():
    x, y = _data()
    # A vocabulary tighter than the data's range: the Gaussian's tails must be clipped.
    x2, _ = gmm_oversample(x, y, vocabulary_size=40, seed=0)
    synthetic = x2[len(x):]
    assert synthetic.dtype == x.dtype
    assert synthetic.min() == 0 and synthetic.max() == 39


def test_samples_follow_their_class_distribution():
    x, y = _data()
    x2, y2 = gmm_oversample(x, y, vocabulary_size=1000, seed=0)
    synthetic = slice(len(x), None)
    for c in (0, 1):
        real_mean = x[y == c].mean()
        new_mean = x2[synthetic][y2[synthetic] == c].mean()
        assert abs(new_mean - real_mean) < 3, (c, real_mean, new_mean)


def test_seeded_and_deterministic():
    x, y = _data()
    a = gmm_oversample(x, y, vocabulary_size=120, seed=4)
    b = gmm_oversample(x, y, vocabulary_size=120, seed=4)
    c = gmm_oversample(x, y, vocabulary_size=120, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
