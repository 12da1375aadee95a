"""Clean/raw consistency loss of CN-HIT-MI.T (section 3.2, equations 1-5).

The paper cleans only the training text (`preprocessing.cleaning`), so the
test text stays noisy. To keep the model's prediction the same on both, one
model F is applied to the cleaned text x_c and the raw text x_d of the same
meme:

    O_c = F(x_c),  O_d = F(x_d)
    loss = CE(O_c, y) + weight * Loss_kl(O_c, O_d)

with weight 1 in the paper. Which KL is `Loss_kl(O_c, O_d)`? The paper built
on PyTorch (torchvision's ResNet, HuggingFace's BERT), whose
`KLDivLoss()(input, target)` computes KL(target || input): written in that
argument order, equation 3 is KL(O_d || O_c) = KL(raw || clean). That is our
default (`direction="raw_clean"`); `direction="clean_raw"` gives KL(O_c || O_d).
Both views carry gradients, as both are outputs of the model in equation 5.
Each term is the mean over the batch.

Inputs are probabilities `[batch, K]` (softmax outputs) unless
`from_logits=True`. Combine the KL term with TSA by adding
`weight * kl_consistency(...)` to `losses.tsa.tsa_cross_entropy(...)`, as the
paper's best BERT system (BERT+TSA+KL) does.

Reference: Li et al., "CN-HIT-MI.T at SemEval-2020 Task 8: Memotion Analysis
Based on BERT", 2020.
"""

import keras
import tensorflow as tf

from memotion_tf.losses.common import class_indices, log_probabilities, num_classes_of
from memotion_tf.losses.tsa import TSALoss, tsa_per_example


def kl_divergence(p, q, from_logits=False):
    """Per-example KL(p || q) = sum_k p_k (log p_k - log q_k), float32 `[batch]`.

    Identical inputs give exactly 0: both logs go through the same ops, so
    their difference is 0 term by term. A zero p_k contributes 0.
    """
    p, log_p = log_probabilities(p, from_logits)
    _, log_q = log_probabilities(q, from_logits)
    return tf.reduce_sum(p * (log_p - log_q), axis=-1)


def kl_consistency(p_clean, p_raw, from_logits=False):
    """Mean over the batch of KL(p_clean || p_raw), a float32 scalar (equation 3)."""
    return tf.reduce_mean(kl_divergence(p_clean, p_raw, from_logits))


def clean_raw_kl_loss(y_true, p_clean, p_raw, weight=1.0, from_logits=False):
    """CE(p_clean, y) + weight * KL(p_clean || p_raw), a float32 scalar (equation 5
    with `direction="clean_raw"`; swap the last two arguments for the default reading).

    Args:
        y_true: integer labels `[batch]`/`[batch, 1]` or one-hot `[batch, K]`.
        p_clean: model output on the cleaned text `[batch, K]`.
        p_raw: the same model's output on the raw text `[batch, K]`.
        weight: factor of the KL term (paper: 1).
        from_logits: whether the outputs are logits instead of probabilities.

    Example:
    >>> p = tf.constant([[0.7, 0.2, 0.1]])
    >>> float(clean_raw_kl_loss([0], p, p))  # -log 0.7: the KL term is 0
    0.35667497
    """
    num_classes = num_classes_of(p_clean)
    _, log_probs = log_probabilities(p_clean, from_logits)
    labels = class_indices(y_true, num_classes)
    cross_entropy = -tf.reduce_mean(tf.gather(log_probs, labels, axis=1, batch_dims=1))
    return cross_entropy + weight * kl_consistency(p_clean, p_raw, from_logits)


@keras.saving.register_keras_serializable(package="memotion_tf")
class CleanRawKLLoss(TSALoss):
    """Equation 5 for `model.compile`, on a two-view model's concatenated output.

    `y_pred` is `[batch, 2K]`: the classifier's probabilities on the cleaned
    text, then on the raw text of the same memes (see
    `memotion_tf.training.two_view.two_view_model`). The loss is

        CE_TSA(p_clean, y) + weight * KL(p_raw || p_clean)     (direction "raw_clean", default)
        CE_TSA(p_clean, y) + weight * KL(p_clean || p_raw)     (direction "clean_raw")

    where CE_TSA is `TSALoss` (masked and normalised by the number kept; its
    `progress` is moved by the `TSAProgress` callback) when `schedule` is
    set, and the plain mean cross-entropy when `schedule=None`.

    Args:
        schedule: TSA schedule ("linear", "exp", "log") or None for no TSA.
        weight: factor of the KL term (paper: 1).
        direction: "raw_clean" for KL(raw || clean), PyTorch's reading of the
            paper's `Loss_kl(O_c, O_d)`; "clean_raw" for KL(clean || raw).
        target_classes: TSA's aimed classes, as for `TSALoss`.
        progress: a shared TSA progress variable, as for `TSALoss`.
    """

    DIRECTIONS = ("raw_clean", "clean_raw")

    def __init__(self, schedule="linear", weight=1.0, direction="raw_clean", target_classes=None, progress=None,
                 name="clean_raw_kl_loss", **kwargs):
        if direction not in self.DIRECTIONS:
            raise ValueError(f"unknown KL direction {direction!r}; expected one of {self.DIRECTIONS}")
        super().__init__(schedule=schedule or "linear", target_classes=target_classes, progress=progress,
                         name=name, **kwargs)
        self.anneal = schedule is not None
        self.weight = weight
        self.direction = direction

    def call(self, y_true, y_pred):
        num_classes = tf.shape(y_true)[-1]
        p_clean, p_raw = y_pred[:, :num_classes], y_pred[:, num_classes:]
        if self.anneal:
            cross_entropy = super().call(y_true, p_clean)
        else:
            cross_entropy, _ = tsa_per_example(y_true, p_clean, 1.0, from_logits=self.from_logits)
        first, second = (p_raw, p_clean) if self.direction == "raw_clean" else (p_clean, p_raw)
        return cross_entropy + self.weight * kl_divergence(first, second, self.from_logits)

    def get_config(self):
        config = super().get_config()
        config.update(schedule=self.schedule if self.anneal else None, weight=self.weight,
                      direction=self.direction)
        return config
