"""Adam with a smaller step for pretrained parts.

A multimodal model that fine-tunes a pretrained text encoder beside a head (or
an image network) trained from scratch wants two learning rates: the
encoder's fine-tuning rate, and a larger one for the rest. Keras 3 has no
per-variable learning rate, so `PartwiseAdam` scales the rate its schedule
gives by a constant factor for the variables it is told about, inside Adam's
own update step (everything else is Keras' Adam).

Both optimizers here are Adam as published (and as Keras 2 and PyTorch run
it) for sparse gradients too. Keras 3's TensorFlow Adam applies the
`tf.IndexedSlices` gradient of an `Embedding` table lazily: the rows absent
from a batch keep their moments and do not move. Accumulated gradients
(`gradient_accumulation_steps`) are dense, so an embedding model trained in k
accumulated micro-batches would not match one step on the k-times batch
(tests/test_precision.py checks both). `DenseGradients` makes such gradients
dense before the update: every row's moments decay and every row moves, with
or without accumulation.
"""

import keras
import tensorflow as tf


class DenseGradients:
    """Optimizer mixin: sparse gradients (`tf.IndexedSlices`) are made dense
    before the update (see the module docstring)."""

    def apply(self, grads, trainable_variables=None):
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        return super().apply(grads, trainable_variables)


@keras.saving.register_keras_serializable(package="memotion_tf")
class DenseAdam(DenseGradients, keras.optimizers.Adam):
    """`keras.optimizers.Adam` with dense updates for sparse gradients (see the module docstring).

    Example:
    >>> optimizer = DenseAdam(1e-3, gradient_accumulation_steps=4)
    """


@keras.saving.register_keras_serializable(package="memotion_tf")
class DenseAdamW(DenseGradients, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with dense updates for sparse gradients (see the module docstring)."""


def accumulation(steps):
    """Keras optimizer arguments for `steps` accumulated micro-batches per update (none for 1)."""
    return {"gradient_accumulation_steps": int(steps)} if int(steps) > 1 else {}


@keras.saving.register_keras_serializable(package="memotion_tf")
class PartwiseAdam(DenseGradients, keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose step is `scale` times smaller or larger for some variables.

    Args:
        scaled_variables: the variables (or their `path`s) whose learning rate is scaled.
        scale: the factor, e.g. 5e-5 / 1e-3 to fine-tune a pretrained encoder at 5e-5
            while the rest trains at 1e-3.
        **kwargs: Adam's arguments (`learning_rate` may be a schedule).

    Example:
    >>> optimizer = PartwiseAdam(learning_rate=1e-3, scaled_variables=backbone.trainable_variables,
    ...                          scale=5e-5 / 1e-3)
    """

    def __init__(self, scaled_variables=(), scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scaled_paths = sorted({v if isinstance(v, str) else v.path for v in scaled_variables})
        self._scaled = frozenset(self.scaled_paths)
        self.scale = float(scale)

    def build(self, var_list):
        super().build(var_list)
        # Positions in Keras' own variable index (update_step may get the backend's variable).
        self._scaled_indices = frozenset(i for i, v in enumerate(var_list) if v.path in self._scaled)

    def update_step(self, gradient, variable, learning_rate):
        # Decided per variable when the step is traced: the set is constant.
        if self._get_variable_index(variable) in self._scaled_indices:
            learning_rate = learning_rate * self.scale
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update(scaled_variables=self.scaled_paths, scale=self.scale)
        return config
