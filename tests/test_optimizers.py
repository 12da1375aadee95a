import keras
import numpy as np

from memotion_tf.training.optimizers import PartwiseAdam


def _two_parts():
    inputs = keras.Input((3,))
    first = keras.layers.Dense(2, name="pretrained")
    second = keras.layers.Dense(1, name="head")
    model = keras.Model(inputs, second(first(inputs)))
    return model, first, second


def _train(optimizer, model, steps=3):
    model.compile(optimizer=optimizer, loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.ones((8, 1), "float32")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=8, epochs=steps, verbose=0, shuffle=False)
    return [np.abs(a - b).max() for a, b in zip(model.get_weights(), before)]


def test_scaled_variables_take_the_smaller_step_and_the_rest_adams():
    keras.utils.set_random_seed(0)
    model, first, _ = _two_parts()
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    plain = _train(keras.optimizers.Adam(1e-2), reference, steps=1)
    scaled = _train(PartwiseAdam(learning_rate=1e-2, scaled_variables=first.trainable_variables, scale=0.1), model,
                    steps=1)
    # Adam's first step moves each weight by the learning rate times g / (|g| + eps): 10x less where scaled.
    np.testing.assert_allclose(scaled[0], plain[0] * 0.1, rtol=1e-4)  # the scaled kernel
    np.testing.assert_allclose(scaled[2], plain[2], rtol=1e-5)  # the head's kernel: plain Adam


def test_config_round_trip():
    model, first, _ = _two_parts()
    optimizer = PartwiseAdam(learning_rate=1e-3, scaled_variables=first.trainable_variables, scale=0.05)
    again = PartwiseAdam.from_config(optimizer.get_config())
    assert again.scale == 0.05 and again.scaled_paths == sorted(v.path for v in first.trainable_variables)
