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
