"""Cross-entropy summed over the heads of a multi-head output (Memotion tasks B and C)."""

import keras
import tensorflow as tf

from memotion_tf.losses.common import EPSILON


@keras.saving.register_keras_serializable(package="memotion_tf")
class MultiHeadCrossEntropy(keras.losses.Loss):
    """Sum over heads of each head's categorical cross-entropy, per example.

    `y_true` and `y_pred` are `[batch, sum of head sizes]`: each head's one-hot
    label and softmax probabilities side by side (see `models.multi_head`).

    Args:
        head_sizes: the number of classes of each head, in order, e.g. [2, 2, 2, 2].

    Example:
    >>> loss = MultiHeadCrossEntropy([2, 3])
    >>> float(loss([[1., 0., 0., 1., 0.]], [[.8, .2, .1, .7, .2]]))  # -ln .8 - ln .7
    0.58
    """

    def __init__(self, head_sizes, name="multi_head_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.head_sizes = [int(s) for s in head_sizes]

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.float32)
        y_pred = tf.cast(y_pred, tf.float32)
        total, start = 0.0, 0
        for size in self.head_sizes:
            p = tf.clip_by_value(y_pred[:, start:start + size], EPSILON, 1.0)
            total += -tf.reduce_sum(y_true[:, start:start + size] * tf.math.log(p), axis=-1)
            start += size
        return total

    def get_config(self):
        return dict(super().get_config(), head_sizes=self.head_sizes)
