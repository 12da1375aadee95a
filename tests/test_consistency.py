import math

import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.losses.consistency import clean_raw_kl_loss, kl_consistency, kl_divergence

P = [0.7, 0.2, 0.1]
Q = [0.5, 0.3, 0.2]
# KL(P || Q) by hand: 0.7 ln(0.7/0.5) + 0.2 ln(0.2/0.3) + 0.1 ln(0.1/0.2)
#                   = 0.235531 - 0.081093 - 0.069315 = 0.085123
KL_PQ = 0.7 * math.log(1.4) + 0.2 * math.log(2 / 3) + 0.1 * math.log(0.5)


def test_kl_is_exactly_zero_for_identical_views():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=8).astype("float32")
    probs[0] = [1.0, 0.0, 0.0]  # zero probabilities must not give nan
    assert float(kl_consistency(probs, probs)) == 0.0
    np.testing.assert_array_equal(kl_divergence(probs, probs).numpy(), 0.0)
    logits = rng.normal(size=(8, 3)).astype("float32")
    assert float(kl_consistency(logits, logits, from_logits=True)) == 0.0


def test_kl_hand_value_and_direction():
    assert KL_PQ == pytest.approx(0.085123, abs=1e-6)
    assert float(kl_consistency([P], [Q])) == pytest.approx(KL_PQ, rel=1e-5)
    # KL is not symmetric: the clean view is the first argument.
    kl_qp = 0.5 * math.log(0.5 / 0.7) + 0.3 * math.log(1.5) + 0.2 * math.log(2.0)
    assert float(kl_consistency([Q], [P])) == pytest.approx(kl_qp, rel=1e-5)
    assert abs(kl_qp - KL_PQ) > 1e-3


def test_kl_from_logits_matches_probabilities():
    logits_p, logits_q = np.log([P]) + 1.0, np.log([Q]) - 2.0
    assert float(kl_consistency(logits_p, logits_q, from_logits=True)) == pytest.approx(KL_PQ, rel=1e-5)


def test_kl_is_batch_mean():
    kl = kl_consistency([P, P], [Q, P])
    assert float(kl) == pytest.approx(KL_PQ / 2, rel=1e-5)


def test_total_loss_is_ce_plus_weighted_kl():
    # CE(P, y = 0) = -ln 0.7 = 0.356675
    ce = -math.log(0.7)
    assert float(clean_raw_kl_loss([0], [P], [P])) == pytest.approx(ce, rel=1e-6)
    assert float(clean_raw_kl_loss([0], [P], [Q])) == pytest.approx(ce + KL_PQ, rel=1e-5)  # 0.441798
    assert float(clean_raw_kl_loss([0], [P], [Q], weight=2.0)) == pytest.approx(ce + 2 * KL_PQ, rel=1e-5)
    # One-hot and [batch, 1] labels give the same value; CE uses the clean view only.
    for labels in ([[1.0, 0.0, 0.0]], [[0]]):
        assert float(clean_raw_kl_loss(labels, [P], [Q])) == pytest.approx(ce + KL_PQ, rel=1e-5)
    assert float(clean_raw_kl_loss([1], [P], [Q])) == pytest.approx(-math.log(0.2) + KL_PQ, rel=1e-5)


def test_gradient_reaches_both_views_and_vanishes_when_identical():
    clean = tf.Variable(np.log([P], dtype="float32"))
    raw = tf.Variable(np.log([Q], dtype="float32"))
    with tf.GradientTape() as tape:
        loss = clean_raw_kl_loss([0], clean, raw, from_logits=True)
    grad_clean, grad_raw = tape.gradient(loss, [clean, raw])
    assert np.abs(grad_raw.numpy()).sum() > 0
    assert np.abs(grad_clean.numpy()).sum() > 0
    raw.assign(clean)
    with tf.GradientTape() as tape:
        kl = kl_consistency(clean, raw, from_logits=True)
    np.testing.assert_allclose(tape.gradient(kl, raw).numpy(), 0.0, atol=1e-7)


def test_works_inside_tf_function():
    fn = tf.function(lambda y, p, q: clean_raw_kl_loss(y, p, q))
    value = fn(tf.constant([0]), tf.constant([P]), tf.constant([Q]))
    assert float(value) == pytest.approx(-math.log(0.7) + KL_PQ, rel=1e-5)


def test_the_model_loss_follows_pytorchs_argument_order_by_default():
    """The paper writes Loss_kl(O_c, O_d) and built on PyTorch, whose KLDivLoss()(input, target)
    is KL(target || input): by default the loss is KL(O_d || O_c) = KL(raw || clean)."""
    from memotion_tf.losses.consistency import CleanRawKLLoss

    y = tf.constant([[1.0, 0.0, 0.0]])
    both = tf.constant([P + Q])  # the two-view output: clean view, then raw view
    ce = -math.log(0.7)
    kl_qp = 0.5 * math.log(0.5 / 0.7) + 0.3 * math.log(1.5) + 0.2 * math.log(2.0)  # KL(Q || P) by hand
    default = CleanRawKLLoss(schedule=None)
    assert default.direction == "raw_clean"
    assert float(default(y, both)) == pytest.approx(ce + kl_qp, rel=1e-5)
    assert float(CleanRawKLLoss(schedule=None, direction="clean_raw")(y, both)) == pytest.approx(ce + KL_PQ, rel=1e-5)
    with pytest.raises(ValueError, match="unknown KL direction"):
        CleanRawKLLoss(direction="both")
