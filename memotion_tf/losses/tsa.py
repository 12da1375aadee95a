"""Training Signal Annealing (TSA) of UDA, as CN-HIT-MI.T uses it (section 3.2).

At training progress `t` in [0, 1] (step / total steps), an example whose
predicted probability of its correct class is above the threshold

    eta(t) = a(t) * (1 - 1 / K) + 1 / K,    K = number of classes,

is dropped from the cross-entropy, with

    linear: a(t) = t,    exp: a(t) = exp(5 (t - 1)),    log: a(t) = 1 - exp(-5 t).

`target_classes` aims the removal at some classes, as CN-HIT-MI.T describes
it ("if the prediction accuracy of a certain type of data reaches the
threshold, then remove it", section 3.2; "if the model's predicted probability
for the category positive is higher than a threshold, we remove that data",
section 5): only examples whose label is one of them can be dropped, on their
own class's probability; the others always count. `None` (UDA) aims at every
class.

The summed cross-entropy of the kept examples is divided by
`max(number kept, 1)`, so a batch in which every example is dropped gives 0.
The mask is a constant for the gradient (no gradient through the threshold
test), as in UDA. An example exactly at the threshold is kept (UDA drops only
`p > eta`).

Three ways to use it:
- `tsa_cross_entropy(y_true, y_pred, progress)` in a custom train step;
- `TSALoss()` in `model.compile(loss=...)`, with the `TSAProgress(total_steps)`
  callback in `fit` updating the loss's `progress` variable before each batch;
- `tsa_per_example` for the per-example loss and keep mask.

Predictions are probabilities (softmax outputs, as the models of this project
return) unless `from_logits=True`. Labels are integer class ids (`[batch]` or
`[batch, 1]`) or one-hot `[batch, K]`.

Reference: Xie et al., "Unsupervised Data Augmentation for Consistency
Training", 2019 (arXiv:1904.12848), section 3.3; Li et al., "CN-HIT-MI.T at
SemEval-2020 Task 8", 2020.
"""

import keras
import tensorflow as tf

from memotion_tf.losses.common import class_indices, log_probabilities, num_classes_of

# The rate 5 of UDA's exp and log schedules.
SCHEDULE_RATE = 5.0
SCHEDULES = ("linear", "exp", "log")


def tsa_threshold(progress, num_classes, schedule="linear"):
    """eta(t) = a(t) * (1 - 1/K) + 1/K as a float32 scalar tensor.

    Args:
        progress: training progress t in [0, 1] (float or tensor; clipped).
        num_classes: K.
        schedule: "linear", "exp" or "log" (see the module docstring).

    Example:
    >>> float(tsa_threshold(0.5, 3, "linear"))  # 0.5 * 2/3 + 1/3
    0.6666667
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown TSA schedule {schedule!r}; expected one of {SCHEDULES}")
    t = tf.clip_by_value(tf.cast(progress, tf.float32), 0.0, 1.0)
    if schedule == "linear":
        alpha = t
    elif schedule == "exp":
        alpha = tf.exp((t - 1.0) * SCHEDULE_RATE)
    else:
        alpha = 1.0 - tf.exp(-t * SCHEDULE_RATE)
    return alpha * (1.0 - 1.0 / num_classes) + 1.0 / num_classes


def tsa_per_example(y_true, y_pred, progress, schedule="linear", from_logits=False, target_classes=None):
    """Per-example cross-entropy and TSA keep mask, both float32 `[batch]`.

    The mask is 1 where the correct-class probability is at most the threshold
    (or, with `target_classes`, where the label is not one of them) and is
    wrapped in `stop_gradient`.
    """
    num_classes = num_classes_of(y_pred)
    probabilities, log_probs = log_probabilities(y_pred, from_logits)
    labels = class_indices(y_true, num_classes)
    correct = tf.gather(probabilities, labels, axis=1, batch_dims=1)
    cross_entropy = -tf.gather(log_probs, labels, axis=1, batch_dims=1)
    threshold = tsa_threshold(progress, num_classes, schedule)
    confident = correct > threshold
    if target_classes is not None:
        aimed = tf.reduce_any(tf.equal(labels[:, None], tf.constant(list(target_classes), labels.dtype)[None, :]),
                              axis=-1)
        confident = tf.logical_and(confident, aimed)
    keep = tf.stop_gradient(tf.cast(tf.logical_not(confident), tf.float32))
    return cross_entropy, keep


def tsa_cross_entropy(y_true, y_pred, progress, schedule="linear", from_logits=False):
    """sum(kept cross-entropy) / max(number kept, 1), a float32 scalar.

    Args:
        y_true: integer labels `[batch]`/`[batch, 1]` or one-hot `[batch, K]`.
        y_pred: probabilities `[batch, K]`, or logits with `from_logits=True`.
        progress: t in [0, 1]: a float, tensor or `tf.Variable` (read at run time).
        schedule: "linear", "exp" or "log".
        from_logits: whether `y_pred` holds logits.

    Example:
    >>> loss = tsa_cross_entropy([0, 1], [[0.9, 0.1], [0.2, 0.8]], progress=0.0)
    >>> # threshold 0.5 drops both examples: loss 0.0
    """
    cross_entropy, keep = tsa_per_example(y_true, y_pred, progress, schedule, from_logits)
    return tf.reduce_sum(cross_entropy * keep) / tf.maximum(tf.reduce_sum(keep), 1.0)


@keras.saving.register_keras_serializable(package="memotion_tf")
class TSALoss(keras.losses.Loss):
    """Cross-entropy with Training Signal Annealing, for `model.compile`.

    The progress t lives in the non-trainable `tf.Variable` `self.progress`,
    read inside the compiled train step, so the `TSAProgress` callback (or your
    own code) can move it without retracing. The per-example values returned by
    `call` are `keep * cross_entropy * batch / max(kept, 1)`, so Keras'
    `sum_over_batch_size` reduction yields `sum(kept CE) / max(kept, 1)` and
    keeps Keras' division by the number of replicas under `tf.distribute`
    (each replica normalises by its own kept count). Sample weights multiply
    the kept terms but do not change the count.

    Args:
        schedule: "linear", "exp" or "log".
        from_logits: whether the model outputs logits instead of probabilities.
        target_classes: class ids whose confident examples are dropped; None:
            every class (UDA). CN-HIT-MI.T aims at `positive`.
        progress: an existing float32 `tf.Variable` to share; None creates one
            at 0.
        name: loss name.

    Example:
    >>> loss = TSALoss(schedule="exp")
    >>> model.compile(optimizer="adam", loss=loss)
    >>> model.fit(ds, epochs=3, callbacks=[TSAProgress(total_steps=3 * steps_per_epoch)])

    Reference: Xie et al., "Unsupervised Data Augmentation for Consistency
    Training", 2019 (arXiv:1904.12848).
    """

    def __init__(self, schedule="linear", from_logits=False, target_classes=None, progress=None, name="tsa_loss",
                 **kwargs):
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown TSA schedule {schedule!r}; expected one of {SCHEDULES}")
        kwargs.pop("reduction", None)  # the normalisation above needs this reduction
        super().__init__(name=name, reduction="sum_over_batch_size", **kwargs)
        self.schedule = schedule
        self.from_logits = from_logits
        self.target_classes = None if target_classes is None else [int(c) for c in target_classes]
        if progress is None:
            progress = tf.Variable(
                0.0, trainable=False, dtype=tf.float32, name="tsa_progress",
                # Under a strategy, the callback writes the same value everywhere.
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
        self.progress = progress

    def call(self, y_true, y_pred):
        cross_entropy, keep = tsa_per_example(y_true, y_pred, self.progress, self.schedule,
                                              self.from_logits, self.target_classes)
        batch = tf.cast(tf.shape(keep)[0], tf.float32)
        return cross_entropy * keep * batch / tf.maximum(tf.reduce_sum(keep), 1.0)

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        config.update(schedule=self.schedule, from_logits=self.from_logits, target_classes=self.target_classes)
        return config


class TSAProgress(keras.callbacks.Callback):
    """Set the TSA progress t = step / total_steps (clipped to 1) before each batch.

    The step is the optimizer's `iterations` (so a resumed run continues its
    schedule and `steps_per_execution` is handled); a model without an
    optimizer falls back to counting batches from `initial_step`.

    Args:
        total_steps: training steps over the whole run (UDA's num_train_steps).
        progress: the `tf.Variable`, or a `TSALoss`, to update; None finds the
            `TSALoss` instances in `model.loss` when training starts.
        initial_step: first step of the batch counter fallback.

    Example:
    >>> model.compile(optimizer="adam", loss=TSALoss())
    >>> model.fit(ds, epochs=2, callbacks=[TSAProgress(total_steps=2 * len(ds))])
    """

    def __init__(self, total_steps, progress=None, initial_step=0):
        super().__init__()
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        self.total_steps = total_steps
        self._targets = [] if progress is None else [getattr(progress, "progress", progress)]
        self.step = initial_step

    def on_train_begin(self, logs=None):
        if self._targets:
            return
        found = [loss.progress for loss in tf.nest.flatten(getattr(self.model, "loss", None))
                 if isinstance(loss, TSALoss) and getattr(loss, "anneal", True)]
        if not found:
            raise ValueError("TSAProgress found no TSALoss in model.loss; pass progress=")
        self._targets = found

    def _current_step(self):
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        if iterations is None:
            return self.step
        return int(keras.ops.convert_to_numpy(iterations))

    def on_train_batch_begin(self, batch, logs=None):
        value = min(self._current_step() / self.total_steps, 1.0)
        for variable in self._targets:
            variable.assign(value)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
