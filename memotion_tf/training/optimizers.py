"""Adam with a smaller step for pretrained parts.

A multimodal model that fine-tunes a pretrained text encoder beside a head (or
an image network) trained from scratch wants two learning rates: the
encoder's fine-tuning rate, and a larger one for the rest. Keras 3 has no
per-variable learning rate, so `PartwiseAdam` scales the rate its schedule
gives by a constant factor for the variables it is told about, inside Adam's
own update step (everything else is Keras' Adam).
"""

import keras


@keras.saving.register_keras_serializable(package="memotion_tf")
class PartwiseAdam(keras.optimizers.Adam):
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
