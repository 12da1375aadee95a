"""Distribution-balanced loss and its focal version, for multi-label (sigmoid) logits.

The RAW-N-COOK model of the MAMI semi-supervised paper is trained with the
distribution-balanced (DB) loss of Wu et al. (ECCV 2020), which the paper
writes as follows (per example k, classes i = 1..C, logits z, labels y):

    P_i^C(x^k) = (1/C) (1/n_i)                      n_i: positives of class i in training
    P^I(x^k)   = (1/C) sum_{i: y_i^k = 1} 1/n_i
    r_i^k      = P_i^C(x^k) / P^I(x^k)
    r̂_i^k      = alpha + sigmoid(beta (r_i^k - mu))                    (re-balancing weight)
    p_+        = sigmoid(z_i^k - nu_i)
    p_-        = sigmoid(lambda (z_i^k - nu_i))
    L_DB       = -(1/C) sum_i r̂_i^k [ y log(p_+) + (1/lambda)(1 - y) log(1 - p_-) ]
    L_DB-focal = -(1/C) sum_i r̂_i^k [ (1 - p_+)^gamma y log(p_+)
                                     + (1/lambda) p_-^gamma (1 - y) log(1 - p_-) ]

`gamma = 0` gives L_DB, so one class covers both. The batch loss is the mean of
L over the batch (Keras' default "sum_over_batch_size" reduction).

What the MAMI paper leaves open, and how it is settled here:
- It gives none of alpha, beta, mu, lambda, gamma, nor how nu is set. The
  defaults are those of Wu et al.'s published COCO-MLT configuration:
  alpha = 0.1, beta = 10, mu = 0.2, lambda = 2, kappa = 0.05, gamma = 2 (their
  VOC-MLT configuration differs only in mu = 0.3 and lambda = 5). Wu et al.'s
  code also multiplies the focal loss by a constant 2 ("balance_param"); the
  paper's formula has no such factor and neither does this class.
- The class-specific bias nu is fixed (not trained), set from the class prior
  p_i = n_i / N as in Wu et al.: nu_i = kappa * log(1/p_i - 1) = -kappa * logit(p_i).
  For a rare class (p_i < 0.5) nu_i > 0, so z - nu starts below z and the many
  negatives of that class are not over-suppressed (the "negative-tolerant"
  regularisation). This is the sign of Wu et al.'s reference implementation,
  which adds kappa * logit(p_i) to the logits; that implementation further
  divides the bias by lambda, which is the same as passing `kappa=0.05 / lambda_`.
- An example with no positive label (e.g. every non-misogynous meme in task B)
  has P^I = 0, so r is undefined. It is given the limit r -> infinity,
  r̂ = alpha + 1 for beta > 0 (alpha + 0.5 for beta = 0), which is what Wu et
  al.'s implementation computes when it divides by zero.

Reduction to plain binary cross-entropy: with nu = 0 (`kappa=0`),
`lambda_=1` and `gamma=0` the bracket is each class's sigmoid cross-entropy, so
L = r̂ x BCE. r̂ = 1 needs `rebalance=False` (in Wu et al.'s code, no
re-weighting function: it then returns no weights), or alpha = 0.5, beta = 0: with
beta = 0 the smoothing sigmoid is sigmoid(0) = 1/2 for every r, so
r̂ = alpha + 1/2. alpha = 1, beta = 0 therefore gives 1.5 x BCE, not BCE
(`tests/test_distribution_balanced.py` pins both). Either way the result equals
`keras.losses.BinaryCrossentropy(from_logits=True)`.

Reference: T. Wu, Q. Huang, Z. Liu, Y. Wang, D. Lin, "Distribution-Balanced
Loss for Multi-Label Classification in Long-Tailed Datasets", ECCV 2020,
arXiv 2007.09654.
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="memotion_tf")
class DistributionBalancedLoss(keras.losses.Loss):
    """Distribution-balanced (focal) loss on multi-label logits.

    Args:
        class_counts: n_i, the number of training examples positive for each
            class (length C; all > 0). For a single binary label pass
            `[number of positives]`.
        alpha: offset of the re-balancing weight r̂ (default 0.1, Wu et al.).
        beta: slope of the smoothing sigmoid (default 10, Wu et al.).
        mu: centre of the smoothing sigmoid (default 0.2, Wu et al. COCO-MLT).
        lambda_: negative-tolerant scale: negative logits are multiplied by
            lambda and the negative term divided by it (default 2, Wu et al.
            COCO-MLT).
        gamma: focal exponent; 0 gives the non-focal DB loss (default 2).
        kappa: scale of the prior-based class bias nu_i = kappa * log(N/n_i - 1)
            (default 0.05, Wu et al.); 0 disables the bias.
        num_examples: N, the number of training examples, needed for the class
            priors p_i = n_i / N when `kappa != 0`.
        rebalance: False fixes r̂ = 1 (no re-balancing weights).
        reduction, name, dtype: as for any `keras.losses.Loss`.

    Example:
    >>> loss = DistributionBalancedLoss(class_counts=[1274, 2810, 2202, 953], num_examples=8000)
    >>> loss(np.array([[0, 1, 1, 0]]), np.array([[-2.0, 1.5, 0.3, -1.0]]))
    """

    def __init__(
        self,
        class_counts,
        alpha=0.1,
        beta=10.0,
        mu=0.2,
        lambda_=2.0,
        gamma=2.0,
        kappa=0.05,
        num_examples=None,
        rebalance=True,
        reduction="sum_over_batch_size",
        name="distribution_balanced_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        counts = np.asarray(class_counts, dtype="float64").reshape(-1)
        if counts.size == 0 or not np.all(counts > 0):
            raise ValueError(f"class_counts must be positive counts, got {list(class_counts)}")
        if lambda_ <= 0:
            raise ValueError(f"lambda_ must be positive, got {lambda_}")
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if kappa:
            if num_examples is None:
                raise ValueError("num_examples (N) is needed for the prior-based bias; or pass kappa=0")
            if not np.all(counts < num_examples):
                raise ValueError(
                    f"every class count must be below num_examples={num_examples} "
                    "for the prior-based bias"
                )
            bias = kappa * np.log(num_examples / counts - 1.0)
        else:
            bias = np.zeros_like(counts)

        # === Config ===
        self.class_counts = [float(c) for c in counts]
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.mu = float(mu)
        self.lambda_ = float(lambda_)
        self.gamma = float(gamma)
        self.kappa = float(kappa)
        self.num_examples = None if num_examples is None else float(num_examples)
        self.rebalance = bool(rebalance)

        # === Constants ===
        self.num_classes = counts.size
        self.inverse_counts = (1.0 / counts).astype("float32")
        self.class_bias = bias.astype("float32")  # nu_i
        # r̂ for an example with no positive label: the limit r -> infinity.
        limit = 1.0 if self.beta > 0 else (0.5 if self.beta == 0 else 0.0)
        self.empty_weight = self.alpha + limit

    def rebalancing_weights(self, y_true, dtype="float32"):
        """r̂_i^k for each example k and class i, shape [batch, C]."""
        y = ops.cast(y_true, dtype)
        inverse = ops.cast(self.inverse_counts, dtype)
        c = float(self.num_classes)
        class_level = inverse / c  # P_i^C
        instance_level = ops.sum(y * inverse, axis=-1, keepdims=True) / c  # P^I
        has_positive = instance_level > 0
        r = class_level / ops.where(has_positive, instance_level, ops.ones_like(instance_level))
        r_hat = self.alpha + ops.sigmoid(self.beta * (r - self.mu))
        return ops.where(has_positive, r_hat, ops.full_like(r_hat, self.empty_weight))

    def call(self, y_true, y_pred):
        logits = ops.convert_to_tensor(y_pred)
        y = ops.cast(y_true, logits.dtype)
        if len(y.shape) == len(logits.shape) - 1:
            y = ops.expand_dims(y, -1)
        shifted = logits - ops.cast(self.class_bias, logits.dtype)  # z - nu
        lam = self.lambda_
        positive = ops.softplus(-shifted)  # -log(p_+)
        negative = ops.softplus(lam * shifted) / lam  # -(1/lambda) log(1 - p_-)
        if self.gamma:
            # (1 - p_+)^gamma and p_-^gamma, through log-sigmoids for stability.
            positive = positive * ops.exp(-self.gamma * ops.softplus(shifted))
            negative = negative * ops.exp(-self.gamma * ops.softplus(-lam * shifted))
        loss = y * positive + (1.0 - y) * negative
        if self.rebalance:
            loss = loss * self.rebalancing_weights(y, dtype=logits.dtype)
        return ops.mean(loss, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            class_counts=self.class_counts,
            alpha=self.alpha,
            beta=self.beta,
            mu=self.mu,
            lambda_=self.lambda_,
            gamma=self.gamma,
            kappa=self.kappa,
            num_examples=self.num_examples,
            rebalance=self.rebalance,
        )
        return config
