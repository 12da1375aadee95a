"""Memotion tasks B and C (beyond the papers, which report task A): one softmax
head per label on any Memotion row, the official mean of per-label macro F1,
tables and SavedModels."""

import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from memotion_tf import runner
from memotion_tf.evaluation.metrics import multi_head_metrics
from memotion_tf.losses.multi_head import MultiHeadCrossEntropy
from memotion_tf.papers.memotion import task_heads
from tests import fixtures

TINY = ["epochs=1", "batch_size=16", "image_size=32", "max_length=24"]


def test_heads_of_tasks_b_and_c():
    assert task_heads("A") is None
    assert task_heads("B") == [("humour", 2), ("sarcasm", 2), ("offensive", 2), ("motivational", 2)]
    assert task_heads("C") == [("humour", 4), ("sarcasm", 4), ("offensive", 4), ("motivational", 2)]


def test_mean_of_per_label_macro_f1_by_hand():
    heads = [("humour", 2), ("motivational", 2)]
    labels = {"humour": [1, 1, 0, 0], "motivational": [0, 0, 0, 1]}
    # humour predicted [1, 0, 0, 0]: class 1 F1 2/3, class 0 F1 0.8 -> macro 0.7333
    # motivational predicted [0, 0, 0, 0]: class 0 F1 6/7, class 1 F1 0 -> macro 0.4286
    probabilities = np.array([[0.2, 0.8, 0.9, 0.1], [0.6, 0.4, 0.9, 0.1], [0.7, 0.3, 0.8, 0.2], [0.9, 0.1, 0.6, 0.4]])
    scores = multi_head_metrics(labels, probabilities, heads)
    assert scores["macro_f1_humour"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert scores["macro_f1_motivational"] == pytest.approx((6 / 7 + 0) / 2)
    assert scores["macro_f1"] == pytest.approx(((2 / 3 + 0.8) / 2 + 3 / 7) / 2)
    assert scores["accuracy"] == pytest.approx((0.75 + 0.75) / 2)


def test_multi_head_cross_entropy_by_hand():
    loss = MultiHeadCrossEntropy([2, 3], reduction=None)
    value = loss(tf.constant([[1.0, 0.0, 0.0, 1.0, 0.0]]), tf.constant([[0.8, 0.2, 0.1, 0.7, 0.2]]))
    assert float(value[0]) == pytest.approx(-math.log(0.8) - math.log(0.7), rel=1e-6)


@pytest.fixture(scope="module", params=["B", "C"])
def task_run(request, tmp_path_factory):
    task = request.param
    out = str(tmp_path_factory.mktemp("runs") / f"uor-{task}")
    results = runner.reproduce("uor", data_dir=fixtures.memotion_dir(), out=out, seeds=1,
                               systems=["CNN-LSTM-TI"], overrides=TINY + [f"task={task}"], verbose=0)
    return task, out, results


def test_a_task_run_gives_its_table_and_a_saved_model_that_scores_the_same(task_run):
    task, out, results = task_run
    heads = task_heads(task)
    assert results["task"] == task
    row = results["rows"][0]
    assert row["paper"] == {}  # the papers report task A only
    for name, _ in heads:
        assert f"macro_f1_{name}" in row["metrics"]
    mean = np.mean([row["metrics"][f"macro_f1_{name}"]["mean"] for name, _ in heads])
    assert row["metrics"]["macro_f1"]["mean"] == pytest.approx(mean)
    baseline = results["baselines"][0]
    assert baseline["baseline"] and "humour" in baseline["system"]
    saved = os.path.join(out, row["saved_model"])
    report = runner.evaluate(saved, fixtures.memotion_dir(), split="val")
    assert report["metrics"]["macro_f1"] == pytest.approx(row["metrics"]["macro_f1"]["mean"], abs=1e-9)
    with open(os.path.join(saved, "assets.extra", "memotion_tf.json")) as f:
        meta = json.load(f)
    assert meta["heads"] == [list(h) for h in heads] and meta["task"] == task
    assert os.path.getsize(os.path.join(out, "CNN-LSTM-TI", "confusion_matrix.png")) > 1000


def test_the_serving_label_names_one_class_per_head(task_run):
    task, out, results = task_run
    from memotion_tf.export import load_exported

    serve, meta, _ = load_exported(os.path.join(out, results["rows"][0]["saved_model"]))
    frame = fixtures.memotion_data().split("val").head(2)
    images = [tf.io.read_file(p) for p in frame["image_path"]]
    labels = [s.decode() for s in serve(text=tf.constant(frame["text"].tolist()), image=tf.stack(images))["label"].numpy()]
    for label in labels:
        parts = label.split(" | ")
        assert [p.split("=")[0] for p in parts] == [name for name, _ in task_heads(task)]


def test_task_b_refuses_losses_it_cannot_take():
    from memotion_tf.config import ConfigError

    with pytest.raises(ConfigError, match="task B trains with"):
        runner.reproduce("uor", data_dir=fixtures.memotion_dir(), seeds=1, systems=["LSTM-T+GMM"],
                         overrides=TINY + ["task=B"], verbose=0, out=os.path.join(fixtures._ROOT, "refused"))


def test_a_task_model_on_the_official_test_release_answers_its_own_task(task_run, tmp_path):
    from memotion_tf.datasets.memotion7k import LEVELS, read_memotion7k_test, write_synthetic_memotion7k_test

    task, out, results = task_run
    release = write_synthetic_memotion7k_test(str(tmp_path / "test"), size=24, seed=2)
    answer = str(tmp_path / "answer.txt")
    report = runner.evaluate(os.path.join(out, results["rows"][0]["saved_model"]), release, split="test",
                             output=answer)
    lines = open(answer).read().splitlines()
    assert len(lines) == 24 == report["examples"]
    # Task B fills the BBBB block, task C the CCCC block; the others stay 9.
    blocks = [line.split("_") for line in lines]
    assert all(a == "9" and (c == "9999" if task == "B" else b == "9999") for a, b, c in blocks)
    answered = [b if task == "B" else c for _, b, c in blocks]
    gold = read_memotion7k_test(release, task=task).frame
    labels = {name: gold[name].to_numpy() for name in LEVELS}
    predictions = {name: np.asarray([int(digits[j]) for digits in answered]) for j, name in enumerate(LEVELS)}
    from sklearn.metrics import f1_score

    expected = np.mean([f1_score(labels[n], predictions[n], average="macro", labels=range(size), zero_division=0)
                        for n, size in task_heads(task)])
    assert report["metrics"]["macro_f1"] == pytest.approx(expected)


def test_head_predictions_take_the_argmax_within_each_labels_block():
    from memotion_tf.models.multi_head import head_predictions

    probabilities = np.array([[0.1, 0.9, 0.3, 0.3, 0.4],
                              [0.8, 0.2, 0.5, 0.4, 0.1]])
    by_head = head_predictions(probabilities, [("humour", 2), ("sarcasm", 3)])
    assert {k: v.tolist() for k, v in by_head.items()} == {"humour": [1, 0], "sarcasm": [2, 0]}
    assert head_predictions(probabilities, []).tolist() == [1, 0]
