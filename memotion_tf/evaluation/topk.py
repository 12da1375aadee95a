"""Accuracy and BiliMemeNet's Acc@k (section 6.2.3), from score matrices.

BiliMemeNet ranks the *ground truth*, not the model: every chat has a score
per main category (its summed frequency under that category, section 6.2.2),
the "top-k ground truth" are the categories whose score is among the k
highest, and only categories with a non-zero score are ground truth at all.
The model gives one category. Acc@k of an example is 1 when that category is in
its top-k ground truth, else 0; Acc@k is the mean over examples. So a chat seen
under a single main category counts the same for Acc@1 and Acc@3, which is why
the paper's Acc@3 is barely above its Acc@1.

`top_k_accuracy` is the usual metric the other way round (gold label among the
model's k highest scores). Both rank with the same rule: a class is in the top k
when fewer than k classes score strictly higher, so classes tied at the k-th
place are all in (the rule of `tf.math.in_top_k`).
"""

import numpy as np


def _scores(scores, name="scores"):
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"{name} must be a [num_examples, num_classes] matrix, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        row = int(np.flatnonzero(~np.isfinite(scores).all(axis=1))[0])
        raise ValueError(f"{name} row {row} has a non-finite score")
    return scores


def _indices(values, num_examples, num_classes, name):
    values = np.asarray(values)
    if values.ndim == 2:  # a score matrix: its argmax (first of tied maxima)
        values = _scores(values, name).argmax(axis=1)
    if values.shape != (num_examples,):
        raise ValueError(f"{name} must have {num_examples} entries, got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be integer class indices, got dtype {values.dtype}")
    bad = np.flatnonzero((values < 0) | (values >= num_classes))
    if len(bad):
        raise ValueError(f"{name}[{bad[0]}] = {values[bad[0]]} is not a class index in 0..{num_classes - 1}")
    return values.astype(np.int64)


def _check_k(k):
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def in_top_k(scores, targets, k):
    """Boolean [n]: is class targets[i] among the k highest of scores[i]?

    Ties at the k-th place are all in the top k (as `tf.math.in_top_k`).
    """
    scores = _scores(scores)
    k = _check_k(k)
    targets = _indices(targets, len(scores), scores.shape[1], "targets")
    target_scores = scores[np.arange(len(scores)), targets]
    higher = (scores > target_scores[:, None]).sum(axis=1)
    return higher < k


def accuracy(predictions, labels):
    """Fraction of examples whose predicted class is the gold label.

    predictions: class indices [n], or a score matrix [n, C] (its argmax, the
    first of tied maxima).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty vector, got shape {labels.shape}")
    predictions = np.asarray(predictions)
    if predictions.ndim == 2:
        predictions = _scores(predictions, "predictions").argmax(axis=1)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions shape {predictions.shape} does not match labels shape {labels.shape}")
    return float(np.mean(predictions == labels))


def top_k_accuracy(scores, labels, k):
    """Fraction of examples whose gold label is among the model's k best scores."""
    scores = _scores(scores)
    if len(scores) == 0:
        raise ValueError("no examples")
    return float(np.mean(in_top_k(scores, labels, k)))


def acc_at_k(predictions, gold_scores, k):
    """BiliMemeNet's Acc@k (section 6.2.3).

    Args:
        predictions: the model's category per example, [n] indices or an [n, C]
            score matrix (its argmax).
        gold_scores: [n, C] non-negative ground-truth scores, e.g.
            `read_danmu_raw(path, level="main").scores`.
        k: how many of the highest-scoring ground-truth categories count.

    Returns the mean over examples of 1 if the prediction is a category with a
    non-zero gold score among the k highest (ties at the k-th place included),
    else 0. An example whose gold scores are all zero has no ground truth and
    raises ValueError.
    """
    gold = _scores(gold_scores, "gold_scores")
    if len(gold) == 0:
        raise ValueError("no examples")
    if (gold < 0).any():
        raise ValueError(f"gold_scores row {int(np.flatnonzero((gold < 0).any(axis=1))[0])} has a negative score")
    empty = np.flatnonzero(~(gold > 0).any(axis=1))
    if len(empty):
        raise ValueError(f"gold_scores row {int(empty[0])} is all zero: the example has no ground truth")
    predictions = _indices(predictions, len(gold), gold.shape[1], "predictions")
    nonzero = gold[np.arange(len(gold)), predictions] > 0
    return float(np.mean(nonzero & in_top_k(gold, predictions, k)))


def acc_at(predictions, gold_scores, ks=(1, 3)):
    """{"acc@1": ..., "acc@3": ...}: `acc_at_k` for each k, as the paper reports."""
    return {f"acc@{k}": acc_at_k(predictions, gold_scores, k) for k in ks}
