"""Distribution-balanced (focal) loss against a hand computation and its special cases."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.losses.distribution_balanced import DistributionBalancedLoss

COUNTS = np.array([10.0, 20.0, 5.0])  # n_i
N = 50.0  # training examples
Y = np.array([[0, 1, 1], [1, 0, 0], [0, 0, 0]], dtype="float32")  # the last has no positive
Z = np.array([[-1.2, 0.7, 2.0], [0.4, -0.3, 1.1], [-2.5, 0.2, -0.6]], dtype="float32")
PARAMS = dict(alpha=0.1, beta=10.0, mu=0.2, lambda_=2.0, kappa=0.05)


def hand_db_loss(y, z, n, num, alpha, beta, mu, lambda_, kappa, gamma):
    """The paper's formulas, one example and one class at a time."""
    batch, c = y.shape
    losses = []
    for k in range(batch):
        # P^I(x^k) = (1/C) * sum over the positive classes of 1/n_i
        p_instance = sum(1.0 / n[j] for j in range(c) if y[k, j] == 1) / c
        total = 0.0
        for i in range(c):
            p_class = (1.0 / c) * (1.0 / n[i])  # P_i^C(x^k)
            # r = P^C / P^I; with no positive label r -> infinity (documented choice)
            r = p_class / p_instance if p_instance > 0 else np.inf
            r_hat = alpha + 1.0 / (1.0 + np.exp(-beta * (r - mu)))
            prior = n[i] / num
            nu = kappa * np.log(1.0 / prior - 1.0)
            p_plus = 1.0 / (1.0 + np.exp(-(z[k, i] - nu)))
            p_minus = 1.0 / (1.0 + np.exp(-lambda_ * (z[k, i] - nu)))
            total += r_hat * (
                (1.0 - p_plus) ** gamma * y[k, i] * np.log(p_plus)
                + (1.0 / lambda_) * p_minus**gamma * (1.0 - y[k, i]) * np.log(1.0 - p_minus)
            )
        losses.append(-total / c)
    return float(np.mean(losses))


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_matches_hand_computation(gamma):
    loss = DistributionBalancedLoss(COUNTS, gamma=gamma, num_examples=N, **PARAMS)
    expected = hand_db_loss(Y, Z.astype("float64"), COUNTS, N, gamma=gamma, **PARAMS)
    np.testing.assert_allclose(float(loss(Y, Z)), expected, rtol=1e-5)


def test_rebalancing_weights_by_hand():
    loss = DistributionBalancedLoss(COUNTS, num_examples=N, **PARAMS)
    weights = loss.rebalancing_weights(Y).numpy()
    # Example 0 is positive for classes 1 (n=20) and 2 (n=5): sum 1/n = 0.25.
    r0 = np.array([0.1, 0.05, 0.2]) / 0.25
    np.testing.assert_allclose(weights[0], 0.1 + 1 / (1 + np.exp(-10 * (r0 - 0.2))), rtol=1e-6)
    # Example 1 is positive for class 0 only: r = n_0 / n_i.
    r1 = 10.0 / COUNTS
    np.testing.assert_allclose(weights[1], 0.1 + 1 / (1 + np.exp(-10 * (r1 - 0.2))), rtol=1e-6)
    # Example 2 has no positive label: the limit r -> infinity gives alpha + 1.
    np.testing.assert_allclose(weights[2], [1.1, 1.1, 1.1], rtol=1e-6)


def test_class_bias_from_priors():
    loss = DistributionBalancedLoss(COUNTS, num_examples=N, kappa=0.05)
    np.testing.assert_allclose(loss.class_bias, 0.05 * np.log(N / COUNTS - 1), rtol=1e-6)
    assert np.all(loss.class_bias > 0)  # every class is rarer than 50%: logits start lower


def test_reduces_to_binary_cross_entropy():
    """Why alpha = 1, beta = 0 is *not* plain BCE but 1.5 x BCE: the
    re-balancing weight is r̂ = alpha + sigmoid(beta (r - mu)) (Wu et al.,
    ECCV 2020, arXiv 2007.09654, the smoothing function of the re-balanced
    weighting; the MAMI slides write the same). With beta = 0 the sigmoid is
    sigmoid(0) = 1/2 for every r, so r̂ = alpha + 1/2 multiplies every term:
    alpha = 1 gives 1.5, alpha = 0.5 gives 1. Wu et al.'s code gives unit
    weights by switching the re-weighting off, our `rebalance=False`. With nu = 0
    (kappa = 0), lambda = 1 and gamma = 0 the bracket is the BCE of each class."""
    rng = np.random.default_rng(0)
    y = (rng.random((8, 4)) < 0.4).astype("float32")
    z = rng.normal(scale=3.0, size=(8, 4)).astype("float32")
    bce = float(keras.losses.BinaryCrossentropy(from_logits=True)(y, z))
    counts = [3, 5, 7, 9]
    plain = DistributionBalancedLoss(counts, rebalance=False, kappa=0.0, lambda_=1.0, gamma=0.0)
    np.testing.assert_allclose(float(plain(y, z)), bce, rtol=1e-6)
    # beta = 0: every weight is alpha + sigmoid(0) = alpha + 1/2, whatever r is.
    for alpha in (0.5, 1.0, 0.1):
        flat = DistributionBalancedLoss(counts, alpha=alpha, beta=0.0, kappa=0.0, lambda_=1.0, gamma=0.0)
        np.testing.assert_allclose(flat.rebalancing_weights(y).numpy(), np.full(y.shape, alpha + 0.5), rtol=1e-6)
        np.testing.assert_allclose(float(flat(y, z)), (alpha + 0.5) * bce, rtol=1e-6)
    # So alpha = 0.5, beta = 0 is BCE, and alpha = 1, beta = 0 is 1.5 x BCE.
    unit = DistributionBalancedLoss(counts, alpha=0.5, beta=0.0, kappa=0.0, lambda_=1.0, gamma=0.0)
    np.testing.assert_allclose(float(unit(y, z)), bce, rtol=1e-6)
    half_more = DistributionBalancedLoss(counts, alpha=1.0, beta=0.0, kappa=0.0, lambda_=1.0, gamma=0.0)
    np.testing.assert_allclose(float(half_more(y, z)), 1.5 * bce, rtol=1e-6)


def test_focal_lowers_the_loss_of_well_classified_examples():
    y = np.array([[1, 0]], dtype="float32")
    easy = np.array([[4.0, -4.0]], dtype="float32")
    hard = np.array([[-2.0, 2.0]], dtype="float32")
    args = dict(class_counts=[30, 10], num_examples=100)
    plain = DistributionBalancedLoss(gamma=0.0, **args)
    focal = DistributionBalancedLoss(gamma=2.0, **args)
    easy_ratio = float(focal(y, easy)) / float(plain(y, easy))
    hard_ratio = float(focal(y, hard)) / float(plain(y, hard))
    assert easy_ratio < 0.01  # confident and right: almost nothing left
    assert 0.5 < hard_ratio < 1.0  # confident and wrong: barely discounted
    assert float(focal(y, easy)) < float(plain(y, easy))


def test_single_binary_label_accepts_flat_targets():
    loss = DistributionBalancedLoss([40], num_examples=100)
    z = np.array([[0.3], [-1.0], [2.0]], dtype="float32")
    flat = float(loss(np.array([1, 0, 1]), z))
    column = float(loss(np.array([[1], [0], [1]]), z))
    assert flat == pytest.approx(column)


def test_gradients_are_finite_for_extreme_logits():
    loss = DistributionBalancedLoss(COUNTS, num_examples=N)
    z = tf.Variable([[80.0, -80.0, 0.0], [-80.0, 80.0, 30.0], [0.0, 0.0, -30.0]])
    with tf.GradientTape() as tape:
        value = loss(Y, z)
    grad = tape.gradient(value, z)
    assert np.isfinite(float(value)) and np.all(np.isfinite(grad.numpy()))


def test_config_round_trip_and_fit():
    loss = DistributionBalancedLoss(COUNTS, alpha=0.2, gamma=1.0, num_examples=N, lambda_=5.0)
    clone = DistributionBalancedLoss.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    np.testing.assert_allclose(float(restored(Y, Z)), float(loss(Y, Z)), rtol=1e-6)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=loss)
    x = np.random.default_rng(0).normal(size=(6, 2)).astype("float32")
    history = model.fit(x, np.tile(Y, (2, 1)), epochs=1, batch_size=6, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        DistributionBalancedLoss([3, 0], kappa=0.0)
    with pytest.raises(ValueError, match="num_examples"):
        DistributionBalancedLoss([3, 4])
    with pytest.raises(ValueError, match="below num_examples"):
        DistributionBalancedLoss([3, 10], num_examples=10)
    with pytest.raises(ValueError, match="lambda_"):
        DistributionBalancedLoss([3], kappa=0.0, lambda_=0.0)
