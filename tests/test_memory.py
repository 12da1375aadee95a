"""The memory estimate, the 16 GiB fit and the accumulation steps; the device helpers."""

import dataclasses
import logging

import keras
import pytest

from memotion_tf.training import devices, memory
from memotion_tf.training.memory import GiB, MemoryEstimate, accumulation_steps, estimate_memory, fits
from memotion_tf.training.precision import policy_scope


def _mlp(n=1000, hidden=1000, classes=10, frozen_first=False, depth=1):
    x = keras.Input((n,), name="x")
    first = keras.layers.Dense(hidden, activation="relu", name="hidden")
    h = first(x)
    for i in range(1, depth):
        h = keras.layers.Dense(hidden, activation="relu", name=f"hidden_{i + 1}")(h)
    model = keras.Model(x, keras.layers.Dense(classes, activation="softmax", dtype="float32", name="out")(h))
    first.trainable = not frozen_first
    return model


def test_weights_gradients_and_adam_slots_by_hand():
    model = _mlp()
    params = 1000 * 1000 + 1000 + 1000 * 10 + 10
    estimate = estimate_memory(model, 100)
    assert (estimate.params, estimate.trainable_params) == (params, params)
    assert estimate.weights == estimate.gradients == 4 * params
    assert estimate.optimizer == 2 * 4 * params  # Adam's two moments
    assert estimate_memory(model, 100, optimizer="sgd").optimizer == 0
    assert estimate_memory(model, 100, optimizer=keras.optimizers.SGD(momentum=0.9)).optimizer == 4 * params
    wrapped = keras.optimizers.LossScaleOptimizer(keras.optimizers.AdamW())
    assert estimate_memory(model, 100, optimizer=wrapped).optimizer == 2 * 4 * params
    assert estimate_memory(model, 100, gradient_accumulation_steps=4).accumulators == 4 * params


def test_activations_by_hand():
    """At batch 100 the peak is in the backward pass of the first layer: the
    input x, the ReLU output (kept for both weight gradients), the gradient
    reaching the ReLU and ReluGrad's output, 100 x 1000 float32 values each
    (the weight gradients are counted as gradients, not here)."""
    assert estimate_memory(_mlp(), 100).activations == 4 * (100 * 1000 * 4)


def test_activations_scale_with_the_batch_and_shrink_under_mixed_precision():
    model = _mlp()
    one, two = (estimate_memory(model, b).activations for b in (100, 200))
    assert two == 2 * one
    # Where activations outweigh the weights (a large batch through narrow
    # layers), float16 halves them; the float32 input batch, the float16 copies
    # of the weights (cast each step, kept for the backward pass) and the
    # float32 copy of the last hidden layer read by the float32 output stay.
    wide_batch = estimate_memory(_mlp(n=100, hidden=100, depth=4), 2000).activations
    with policy_scope("mixed_float16"):
        half = _mlp(n=100, hidden=100, depth=4)
    assert estimate_memory(half, 2000).activations < 0.7 * wide_batch


def test_a_frozen_layer_keeps_nothing_for_the_backward_pass():
    trained, frozen = estimate_memory(_mlp(), 100), estimate_memory(_mlp(frozen_first=True), 100)
    assert frozen.trainable_params == 1000 * 10 + 10
    assert frozen.gradients == 4 * frozen.trainable_params
    assert frozen.activations < trained.activations


def test_inference_counts_no_gradients():
    estimate = estimate_memory(_mlp(), 100, training=False)
    assert estimate.gradients == estimate.optimizer == 0
    assert 0 < estimate.activations < estimate_memory(_mlp(), 100).activations


def test_sequence_inputs_need_a_length():
    x = keras.Input((None,), dtype="int32", name="token_ids")
    model = keras.Model(x, keras.layers.Dense(2)(keras.layers.Embedding(50, 4)(x)))
    with pytest.raises(ValueError, match="sequence_length"):
        estimate_memory(model, 8)
    assert estimate_memory(model, 8, sequence_length=16).activations > 0


def test_an_abstract_build_allocates_nothing_and_gives_the_same_estimate():
    with memory.abstract_build():
        abstract = _mlp()
    assert all(w._value is None for w in abstract.weights)  # shapes only
    assert abstract.count_params() == _mlp().count_params()
    assert estimate_memory(abstract, 100) == estimate_memory(_mlp(), 100)
    assert all(w._value is None for w in abstract.weights)  # still nothing allocated


ESTIMATE = MemoryEstimate(batch_size=32, weights=2 * GiB, gradients=2 * GiB, optimizer=4 * GiB,
                          activations=16 * GiB, params=0, trainable_params=0, policy="float32")


def test_fits_keeps_a_margin():
    assert ESTIMATE.total == 24 * GiB
    assert not fits(ESTIMATE, 16 * GiB)
    assert fits(ESTIMATE, 32 * GiB)
    assert not fits(dataclasses.replace(ESTIMATE, activations=7 * GiB), 16 * GiB)  # 15 GiB > 85% of 16
    assert fits(dataclasses.replace(ESTIMATE, activations=5 * GiB), 16 * GiB)       # 13 GiB


def test_accumulation_steps_keep_the_batch_and_fit():
    # 8 GiB of state + 2 GiB of accumulators + 16/k GiB of activations <= 13.6 GiB: k = 8 (2 GiB).
    assert accumulation_steps(ESTIMATE, 16 * GiB) == 8
    micro = ESTIMATE.at_batch(4, gradient_accumulation_steps=8)
    assert (micro.activations, micro.accumulators, micro.total) == (2 * GiB, 2 * GiB, 12 * GiB)
    assert accumulation_steps(ESTIMATE, 40 * GiB) == 1
    with pytest.raises(ValueError, match="one example per step"):
        accumulation_steps(ESTIMATE, 8 * GiB)
    assert memory.micro_batch_size(32, 8) == 4
    with pytest.raises(ValueError, match="does not divide"):
        memory.micro_batch_size(24, 5)


def test_device_description_and_the_paper_warning(caplog):
    t4 = [{"type": "GPU", "name": "Tesla T4", "compute_capability": (7, 5)}] * 2
    assert devices.describe_devices(t4).startswith("2 x GPU (Tesla T4, compute capability 7.5); TensorFlow ")
    assert devices.describe_devices([]).startswith("CPU only (")
    caplog.set_level(logging.INFO, logger="memotion_tf")
    devices.log_devices("paper", found=[])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no GPU or TPU" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()
    caplog.clear()
    devices.log_devices("paper", found=t4)
    devices.log_devices("quick", found=[])
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    # This machine: whatever TensorFlow sees.
    assert devices.accelerator_available() == bool(devices.accelerators())


def test_optimizer_subclasses_count_their_keras_class_state():
    from memotion_tf.training.optimizers import DenseAdam, PartwiseAdam

    model = _mlp()
    adam = estimate_memory(model, 10, optimizer="adam").optimizer
    assert adam == 2 * estimate_memory(model, 10).gradients
    assert estimate_memory(model, 10, optimizer=DenseAdam()).optimizer == adam
    assert estimate_memory(model, 10, optimizer=PartwiseAdam(learning_rate=1e-3)).optimizer == adam
