"""Gaussian-mixture oversampling of minority-class token sequences (UoR Algorithm 2).

Each minority class is fitted on its own padded sequence vectors (one
`sklearn.mixture.GaussianMixture` per class, EM as in Algorithm 1) and sampled
until the class is as large as the majority class. Samples are rounded to the
nearest integer and clipped to [0, vocabulary_size - 1], so every synthetic
sequence is a valid input of the Embedding layer. The paper does not give the
number of mixture components; sklearn's default of 1 is our default
(`gmm_components` in the config).
"""

import numpy as np
from sklearn.mixture import GaussianMixture


def gmm_oversample(sequences, labels, vocabulary_size, n_components=1,
                   covariance_type="full", seed=0):
    """Return (sequences, labels) with every class as large as the largest.

    The originals come first, then the synthetic rows of each minority class in
    class order; shuffle before batching. Deterministic for a given seed.
    """
    sequences = np.asarray(sequences)
    labels = np.asarray(labels)
    if sequences.ndim != 2 or len(sequences) != len(labels):
        raise ValueError("sequences must be [n, length] with one label per row")
    counts = np.bincount(labels)
    target = counts.max()
    out_x, out_y = [sequences], [labels]
    for cls, count in enumerate(counts):
        need = int(target - count)
        if need == 0 or count == 0:
            continue
        members = sequences[labels == cls].astype(np.float64)
        mixture = GaussianMixture(
            n_components=min(n_components, len(members)),
            covariance_type=covariance_type,
            random_state=seed * 1000 + cls,
        )
        mixture.fit(members)
        samples, _ = mixture.sample(need)
        ids = np.clip(np.rint(samples), 0, vocabulary_size - 1).astype(sequences.dtype)
        out_x.append(ids)
        out_y.append(np.full(need, cls, dtype=labels.dtype))
    return np.concatenate(out_x), np.concatenate(out_y)
