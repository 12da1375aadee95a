"""Classification metrics (scikit-learn) and the mean/std/min/max summary of runs."""

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def classification_metrics(y_true, y_pred, num_classes):
    """Macro F1 (the Memotion task A official metric) and accuracy.

    Macro F1 averages over all `num_classes` classes, so a class the model never
    predicts counts as F1 = 0, as the official scorer does.
    """
    labels = list(range(num_classes))
    return {
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }


def multi_head_metrics(labels, probabilities, heads):
    """Memotion tasks B and C: per label, the macro F1 over its classes (and the
    accuracy); `macro_f1` is their mean, the task's official score.

    Args:
        labels: `{head name: [n] class ids}`.
        probabilities: `[n, sum of head sizes]` (see `models.multi_head`).
        heads: `[(name, number of classes)]` in the output's order.
    """
    from memotion_tf.models.multi_head import head_slices

    probabilities = np.asarray(probabilities)
    out = {}
    for name, start, stop in head_slices(heads):
        scores = classification_metrics(np.asarray(labels[name]), probabilities[:, start:stop].argmax(-1),
                                        stop - start)
        out[f"macro_f1_{name}"], out[f"accuracy_{name}"] = scores["macro_f1"], scores["accuracy"]
    out["macro_f1"] = float(np.mean([out[f"macro_f1_{name}"] for name, _ in heads]))
    out["accuracy"] = float(np.mean([out[f"accuracy_{name}"] for name, _ in heads]))
    return out


def confusion(y_true, y_pred, num_classes):
    return confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))


def summarize_runs(values):
    """mean, std (sample std, ddof=1; 0 for a single run), min, max and the runs."""
    values = [float(v) for v in values]
    arr = np.asarray(values)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "runs": values,
    }
