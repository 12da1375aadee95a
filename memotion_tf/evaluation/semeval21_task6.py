"""SemEval-2021 Task 6, subtask 3: the official scores and prediction files.

Scores are computed as the task's scorer (`scorer/task1_3.py` in
di-dimitrov/SEMEVAL-2021-task6-corpus) does: a scikit-learn
`MultiLabelBinarizer` fitted on the 22 technique names turns each meme's label
list into a 0/1 row, and `f1_score(average="micro")` (the official ranking
metric) and `f1_score(average="macro")` are taken over the two matrices.

Zero division: that scorer passes `zero_division=1`, so a technique that is
neither in the gold labels nor predicted counts as F1 = 1 in the macro average
(a technique with gold or predicted memes but no true positive still counts as
0). The corpus's older `scorer/task3.py` left scikit-learn's default ("warn",
which scores such a technique 0). `score(..., zero_division=0)` gives that
variant; on a split where every technique occurs in the gold labels the two agree.

Prediction files are a JSON array of {"id": ..., "labels": [...]}, one entry
per meme of the gold file.
"""

import collections.abc
import os

import numpy as np
from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer

from memotion_tf.datasets.common import DataError, read_json_array
from memotion_tf.datasets.semeval21_task6 import TECHNIQUES, check_label_list, unknown_technique_message
from memotion_tf.io import atomic_write_json

OFFICIAL_ZERO_DIVISION = 1
PREDICTION_KEYS = ("id", "labels")


def _check_labels(labels, where):
    if isinstance(labels, str) or not isinstance(labels, collections.abc.Iterable):
        raise ValueError(f"{where}: labels must be a list of technique names, got {labels!r}")
    labels = list(labels)
    for name in labels:
        if name not in TECHNIQUES:
            raise ValueError(f"{where}: {unknown_technique_message(name)}")
    return labels


def _aligned(gold, predictions):
    """Two equally long lists of label lists, in gold order. Mappings
    (id -> labels) are aligned by id and must hold the same ids."""
    gold_is_map = isinstance(gold, collections.abc.Mapping)
    if gold_is_map != isinstance(predictions, collections.abc.Mapping):
        raise TypeError("gold and predictions must both be id -> labels mappings or both be sequences")
    if gold_is_map:
        missing = [i for i in gold if i not in predictions]
        extra = [i for i in predictions if i not in gold]
        if missing or extra:
            raise ValueError(
                f"predictions must cover exactly the gold ids: missing {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}, extra {extra[:5]}{' ...' if len(extra) > 5 else ''}"
            )
        keys = list(gold)
        gold_lists = [_check_labels(gold[k], f"gold id {k!r}") for k in keys]
        pred_lists = [_check_labels(predictions[k], f"predicted id {k!r}") for k in keys]
        return gold_lists, pred_lists
    gold, predictions = list(gold), list(predictions)
    if len(gold) != len(predictions):
        raise ValueError(f"{len(gold)} gold memes but {len(predictions)} predictions")
    gold_lists = [_check_labels(g, f"gold meme {i}") for i, g in enumerate(gold)]
    pred_lists = [_check_labels(p, f"predicted meme {i}") for i, p in enumerate(predictions)]
    return gold_lists, pred_lists


def score(gold, predictions, zero_division=OFFICIAL_ZERO_DIVISION):
    """Micro F1 (official ranking metric), macro F1 and per-technique F1.

    Args:
        gold, predictions: label lists per meme, either as two sequences in
            the same meme order or as two id -> labels mappings with the same ids.
        zero_division: F1 of a technique with no gold and no predicted meme;
            1 as in the official scorer (see the module docstring).

    Returns:
        {"micro_f1": float, "macro_f1": float, "per_technique": {name: F1}}.
    """
    gold_lists, pred_lists = _aligned(gold, predictions)
    binarizer = MultiLabelBinarizer()
    binarizer.fit([TECHNIQUES])  # sorts the names; F1 does not depend on column order
    y_true = binarizer.transform(gold_lists)
    y_pred = binarizer.transform(pred_lists)
    per_class = f1_score(y_true, y_pred, average=None, zero_division=zero_division)
    by_name = dict(zip(binarizer.classes_, per_class))
    return {
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=zero_division)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=zero_division)),
        "per_technique": {name: float(by_name[name]) for name in TECHNIQUES},
    }


def probabilities_to_labels(probabilities, threshold=0.5):
    """Technique names whose probability exceeds `threshold`, per meme.

    `probabilities` has shape (memes, 22) with columns in `TECHNIQUES` order;
    `threshold` is a scalar or one value per technique. A probability equal to
    the threshold is not a prediction (`>`, as keras' binary metrics decide).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(TECHNIQUES):
        raise ValueError(
            f"expected probabilities of shape (memes, {len(TECHNIQUES)}), got {probabilities.shape}"
        )
    threshold = np.asarray(threshold, dtype=np.float64)
    if threshold.ndim not in (0, 1) or (threshold.ndim == 1 and threshold.shape[0] != len(TECHNIQUES)):
        raise ValueError(
            f"threshold must be a scalar or {len(TECHNIQUES)} values, got shape {threshold.shape}"
        )
    chosen = probabilities > threshold
    return [[name for name, on in zip(TECHNIQUES, row) if on] for row in chosen]


def write_predictions(path, ids, label_lists):
    """Write the official prediction file, atomically: a JSON array of
    {"id": id, "labels": [names]} in the order given."""
    ids, label_lists = list(ids), list(label_lists)
    if len(ids) != len(label_lists):
        raise ValueError(f"{len(ids)} ids but {len(label_lists)} label lists")
    entries, seen = [], set()
    for meme_id, labels in zip(ids, label_lists):
        if not isinstance(meme_id, str) or not meme_id:
            raise ValueError(f"ids must be non-empty strings as in the gold file, got {meme_id!r}")
        if meme_id in seen:
            raise ValueError(f"id {meme_id!r}: duplicate id")
        seen.add(meme_id)
        labels = _check_labels(labels, f"id {meme_id!r}")
        entries.append({"id": str(meme_id), "labels": [str(n) for n in labels]})
    atomic_write_json(path, entries)
    return path


def check_predictions(path, gold_ids):
    """Validate a prediction file against the gold ids; return id -> labels
    (in file order), ready for `score`.

    The file must be a UTF-8 JSON array whose entries have exactly "id" (a
    string) and "labels" (a list of technique names, exactly spelled); ids must
    be unique and be exactly the gold ids. Raises `DataError` naming the file,
    the entry (row, 1-based) and the offending id.
    """
    path = os.fspath(path)
    entries = read_json_array(path, expected="a JSON array of {'id', 'labels'} objects")

    gold_ids = [str(i) for i in gold_ids]
    gold_set = set(gold_ids)
    out = {}
    for row, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise DataError(f"expected a JSON object, found {type(entry).__name__}", file=path, row=row)
        meme_id = entry.get("id")
        where = f"id {meme_id!r}: " if "id" in entry else ""
        missing = [k for k in PREDICTION_KEYS if k not in entry]
        extra = [k for k in entry if k not in PREDICTION_KEYS]
        if missing:
            raise DataError(f"{where}missing key(s) {missing}", file=path, row=row)
        if extra:
            raise DataError(
                f"{where}unexpected key(s) {extra}; an entry has exactly 'id' and 'labels'",
                file=path, row=row,
            )
        if not isinstance(meme_id, str):
            raise DataError(
                f"{where}id must be a string as in the gold file", file=path, row=row, column="id"
            )
        if meme_id in out:
            raise DataError(f"{where}duplicate id", file=path, row=row, column="id")
        if meme_id not in gold_set:
            raise DataError(f"{where}id is not in the gold set", file=path, row=row, column="id")
        labels = check_label_list(entry["labels"], where, path, row)
        out[meme_id] = labels
    absent = [i for i in gold_ids if i not in out]
    if absent:
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        raise DataError(f"no prediction for gold id(s) {absent[:5]}{more}", file=path)
    return out
