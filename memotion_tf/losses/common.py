"""Label and probability helpers shared by the losses in this package."""

import tensorflow as tf

# Keras' backend epsilon: the smallest probability the log of which is taken.
EPSILON = 1e-7


def class_indices(y_true, num_classes):
    """int32 `[batch]` class ids from integer labels (`[batch]` or `[batch, 1]`)
    or one-hot labels (`[batch, num_classes]`; soft labels give their argmax).

    The label form is read from the static shape: a last axis of
    `num_classes` (> 1) means one-hot.
    """
    y_true = tf.convert_to_tensor(y_true)
    if y_true.shape.rank == 2 and y_true.shape[-1] == num_classes and num_classes > 1:
        return tf.argmax(y_true, axis=-1, output_type=tf.int32)
    return tf.reshape(tf.cast(y_true, tf.int32), [-1])


def log_probabilities(y_pred, from_logits):
    """(probabilities, log-probabilities) float32 `[batch, classes]`.

    Probabilities are clipped to [EPSILON, 1] before the log so that a zero
    probability gives a large finite loss instead of inf.
    """
    y_pred = tf.cast(y_pred, tf.float32)
    if from_logits:
        return tf.nn.softmax(y_pred, axis=-1), tf.nn.log_softmax(y_pred, axis=-1)
    return y_pred, tf.math.log(tf.clip_by_value(y_pred, EPSILON, 1.0))


def num_classes_of(y_pred):
    num_classes = tf.convert_to_tensor(y_pred).shape[-1]
    if num_classes is None:
        raise ValueError("the class axis of y_pred must have a static size")
    return num_classes
