import numpy as np
import pytest

from memotion_tf.evaluation import topk

# Model scores for 4 examples and 4 classes, with the gold labels.
MODEL_SCORES = np.array([
    [0.1, 0.5, 0.3, 0.1],  # gold 2: second best -> top-1 miss, top-3 hit
    [0.7, 0.1, 0.1, 0.1],  # gold 0: best -> hit at every k
    [0.2, 0.2, 0.5, 0.1],  # gold 3: worst -> top-3 miss
    [0.4, 0.3, 0.2, 0.1],  # gold 1: second best -> top-1 miss, top-3 hit
])
GOLD_LABELS = np.array([2, 0, 3, 1])

# Ground-truth scores over the 5 main categories (summed frequencies) and the
# model's single answer per chat, as in the paper's Acc@k.
GOLD_SCORES = np.array([
    [5, 0, 3, 0, 0],  # predicted 2: second highest -> Acc@1 0, Acc@3 1
    [0, 0, 0, 7, 0],  # predicted 1: zero score, never ground truth -> 0, 0
    [2, 2, 1, 1, 4],  # predicted 0: tied second -> 0, 1
    [1, 6, 0, 0, 0],  # predicted 1: highest -> 1, 1
    [3, 3, 0, 0, 0],  # predicted 1: tied highest -> 1, 1
])
PREDICTED = np.array([2, 1, 0, 1, 1])


def test_accuracy_by_hand():
    assert topk.accuracy(np.array([1, 0, 2, 0]), GOLD_LABELS) == 0.25
    # A score matrix is reduced to its argmax: [1, 0, 2, 0].
    assert topk.accuracy(MODEL_SCORES, GOLD_LABELS) == 0.25


def test_top_k_accuracy_by_hand():
    assert topk.top_k_accuracy(MODEL_SCORES, GOLD_LABELS, 1) == 1 / 4
    assert topk.top_k_accuracy(MODEL_SCORES, GOLD_LABELS, 3) == 3 / 4
    assert topk.top_k_accuracy(MODEL_SCORES, GOLD_LABELS, 4) == 1.0


def test_paper_acc_at_1_and_3_by_hand():
    assert topk.acc_at_k(PREDICTED, GOLD_SCORES, 1) == pytest.approx(2 / 5)
    assert topk.acc_at_k(PREDICTED, GOLD_SCORES, 3) == pytest.approx(4 / 5)
    assert topk.acc_at(PREDICTED, GOLD_SCORES) == {"acc@1": pytest.approx(0.4), "acc@3": pytest.approx(0.8)}


def test_acc_at_k_takes_argmax_of_model_scores():
    model = np.eye(5)[PREDICTED] * 0.9 + 0.01
    assert topk.acc_at_k(model, GOLD_SCORES, 3) == pytest.approx(4 / 5)


def test_zero_score_category_is_never_ground_truth():
    # Only one category has a non-zero score, so Acc@5 is still Acc@1.
    gold = np.array([[0, 9, 0, 0, 0]])
    assert topk.acc_at_k([1], gold, 5) == 1.0
    assert topk.acc_at_k([0], gold, 5) == 0.0


def test_ties_at_the_kth_place_are_all_in():
    scores = np.array([[1.0, 1.0, 1.0, 1.0, 5.0]])
    assert topk.in_top_k(scores, [3], 2).tolist() == [True]
    assert topk.in_top_k(scores, [3], 1).tolist() == [False]


def test_top_k_accuracy_matches_keras():
    import keras

    rng = np.random.default_rng(0)
    scores = rng.random((64, 6)).astype("float32")
    labels = rng.integers(0, 6, 64)
    for k in (1, 3):
        expected = keras.ops.convert_to_numpy(
            keras.metrics.sparse_top_k_categorical_accuracy(labels, scores, k=k)
        ).mean()
        assert topk.top_k_accuracy(scores, labels, k) == pytest.approx(float(expected))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="all zero"):
        topk.acc_at_k([0], np.zeros((1, 5)), 1)
    with pytest.raises(ValueError, match="not a class index"):
        topk.acc_at_k([5], GOLD_SCORES[:1], 1)
    with pytest.raises(ValueError, match="positive integer"):
        topk.top_k_accuracy(MODEL_SCORES, GOLD_LABELS, 0)
    with pytest.raises(ValueError, match="non-finite"):
        topk.top_k_accuracy(np.array([[np.nan, 1.0]]), [0], 1)
