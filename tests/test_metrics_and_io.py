import json
import os

import pytest

from memotion_tf.evaluation.metrics import classification_metrics, summarize_runs
from memotion_tf.io import atomic_directory, atomic_write_json


def test_macro_f1_and_accuracy_by_hand():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    # class 0: tp 1, fp 1, fn 1 -> P 1/2 R 1/2 F1 1/2
    # class 1: tp 2, fp 1, fn 0 -> P 2/3 R 1   F1 4/5
    # class 2: tp 1, fp 0, fn 1 -> P 1   R 1/2 F1 2/3
    m = classification_metrics(y_true, y_pred, 3)
    assert m["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    assert m["accuracy"] == pytest.approx(4 / 6)


def test_a_class_never_predicted_counts_as_zero():
    m = classification_metrics([0, 1, 2, 2], [2, 2, 2, 2], 3)
    # class 2: P 2/4, R 1 -> F1 2/3; classes 0 and 1: 0
    assert m["macro_f1"] == pytest.approx((2 / 3) / 3)


def test_summary_of_runs():
    s = summarize_runs([0.5, 0.7, 0.6])
    assert s["mean"] == pytest.approx(0.6) and s["min"] == 0.5 and s["max"] == 0.7
    assert s["std"] == pytest.approx(0.1)  # sample std: sqrt((0.01 + 0.01 + 0) / 2)
    assert s["runs"] == [0.5, 0.7, 0.6]
    assert summarize_runs([0.4])["std"] == 0.0


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    atomic_write_json(path, {"v": 1})

    class Boom(Exception):
        pass

    def failing_fsync(fd):
        raise Boom()

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(Boom):
        atomic_write_json(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["results.json"]  # no temporary file left behind


def test_atomic_directory_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "saved_model"
    with atomic_directory(target) as tmp:
        open(os.path.join(tmp, "a"), "w").write("1")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            open(os.path.join(tmp, "b"), "w").write("half")
            raise RuntimeError("killed mid-export")
    assert sorted(os.listdir(target)) == ["a"]
    with atomic_directory(target) as tmp:
        open(os.path.join(tmp, "c"), "w").write("2")
    assert sorted(os.listdir(target)) == ["c"]
    assert sorted(os.listdir(tmp_path)) == ["saved_model"]
