"""Mixed precision, XLA and gradient accumulation (training/precision.py, Keras' optimizer).

On this CPU: every model class built under `mixed_float16` and `mixed_bfloat16`
takes the policy in every layer except its float32 output layers, and returns
float32; a quick row trained a few steps under `mixed_float16` gives the
float32 run's metrics within a stated tolerance; Keras wraps the optimizer in a
LossScaleOptimizer under `mixed_float16` only; k accumulated micro-steps equal
one step on the k-times batch.
"""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.config import ConfigError, ExperimentConfig
from memotion_tf.training import precision
from memotion_tf.training.precision import policy_scope, resolve_jit_compile, resolve_policy

GPU = {"type": "GPU", "name": "gpu"}
MIXED = ("mixed_float16", "mixed_bfloat16")


# --- Resolving the settings ------------------------------------------------------


@pytest.mark.parametrize("setting, devices, expected", [
    ("auto", [], "float32"),                                                    # CPU only
    ("auto", [dict(GPU, compute_capability=(7, 5))], "mixed_float16"),           # T4
    ("auto", [dict(GPU, compute_capability=(7, 0))], "mixed_float16"),           # V100
    ("auto", [dict(GPU, compute_capability=(8, 0))], "mixed_bfloat16"),          # A100
    ("auto", [dict(GPU, compute_capability=(8, 0)), dict(GPU, compute_capability=(7, 5))], "mixed_float16"),
    ("auto", [dict(GPU, compute_capability=None)], "mixed_float16"),             # capability unknown
    ("auto", [{"type": "TPU", "name": "tpu", "compute_capability": None}], "mixed_bfloat16"),
    ("off", [dict(GPU, compute_capability=(8, 0))], "float32"),
    (False, [dict(GPU, compute_capability=(8, 0))], "float32"),
    ("mixed_float16", [], "mixed_float16"),
    ("Mixed_BFloat16", [], "mixed_bfloat16"),
])
def test_resolve_policy(setting, devices, expected):
    assert resolve_policy(setting, devices) == expected


def test_bad_policy_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="precision"):
        resolve_policy("half", [])


def test_policy_scope_restores_the_previous_policy():
    before = keras.config.dtype_policy().name
    with policy_scope("mixed_bfloat16"):
        assert keras.layers.Dense(2).dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == before


class NoXLA(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_jit = False

    def call(self, x):
        return x


def _dense_model(extra=None):
    x = keras.Input((3,))
    y = extra(x) if extra else x
    return keras.Model(x, keras.layers.Dense(2)(y))


def test_resolve_jit_compile():
    model = _dense_model()
    assert resolve_jit_compile("auto", model, accelerator=False) is False   # CPU only: Keras' choice too
    assert resolve_jit_compile("auto", model, accelerator=True) is True
    for strategy in (tf.distribute.get_strategy(), tf.distribute.OneDeviceStrategy("/cpu:0")):
        assert resolve_jit_compile("auto", model, strategy, accelerator=True) is True
    assert resolve_jit_compile("auto", _dense_model(NoXLA()), accelerator=True) is False
    assert resolve_jit_compile(False, model, accelerator=True) is False
    assert resolve_jit_compile("true", model, accelerator=False) is True
    with pytest.raises(ConfigError, match="without XLA support"):
        resolve_jit_compile(True, _dense_model(NoXLA()))


def test_jit_compile_is_off_with_several_local_replicas():
    from memotion_tf.training.strategy import get_strategy

    strategy = get_strategy(logical_cpus=2)  # conftest split the CPU in two
    assert strategy.num_replicas_in_sync == 2
    assert resolve_jit_compile("auto", _dense_model(), strategy, accelerator=True) is False
    with pytest.raises(ConfigError, match="2 replicas"):
        resolve_jit_compile("true", _dense_model(), strategy)


def _fitted_dense(optimizer, **compile_options):
    """`_dense_model` from seed 0, compiled with `compile_options` and fitted two
    epochs on a fixed linear task: (model, its first kernel before fitting)."""
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x @ np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 1.0]], "float32")
    keras.utils.set_random_seed(0)
    model = _dense_model()
    model.compile(optimizer, "mse", **compile_options)
    start = model.get_weights()[0].copy()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    return model, start


def test_xla_compiled_fit_matches_the_graph_one():
    """With one replica, `jit_compile=True` trains (XLA runs on the CPU too) to the same weights."""
    weights = []
    for jit in (False, True):
        model, _ = _fitted_dense(keras.optimizers.SGD(0.1), jit_compile=jit)
        assert model.jit_compile is jit
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_run_eagerly_steps_op_by_op_without_xla_to_the_same_weights():
    """`run_eagerly = true` (make paper-check's setting) reaches `Model.compile`,
    wins over `jit_compile = true` (an eager step is not compiled), and trains
    to the weights the traced step gives."""
    from memotion_tf.training.precision import compile_options

    assert compile_options(ExperimentConfig(run_eagerly=True, jit_compile="true"), _dense_model()) == {
        "jit_compile": False, "run_eagerly": True}
    assert compile_options(ExperimentConfig(jit_compile="false"), _dense_model()) == {
        "jit_compile": False, "run_eagerly": False}
    weights = []
    for eager in (False, True):
        options = compile_options(ExperimentConfig(run_eagerly=eager), _dense_model())
        model, start = _fitted_dense(keras.optimizers.Adam(0.05), **options)
        assert model.run_eagerly is eager
        weights.append(model.get_weights())
        assert not np.allclose(weights[-1][0], start)  # it trained
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # Hence a seed finished either way is reused on resume: the key is not part of the resume signature.
    from memotion_tf.papers.base import config_signature

    assert config_signature(ExperimentConfig(run_eagerly=True)) == config_signature(ExperimentConfig())
    assert config_signature(ExperimentConfig(jit_compile="true")) != config_signature(ExperimentConfig())


# --- Every model class under a mixed policy ---------------------------------------

# Layers kept float32 on purpose.
FLOAT32_BY_DESIGN = {
    "probabilities", "logits", "image_decoder", "text_decoder",  # the models' outputs
    "l2_normalize", "float32",  # CLIPFeatureExtractor's outputs
    "attention_softmax",  # keras-hub's Qwen attention takes its softmax in float32
}


def _float32_by_design(layer):
    # LinearBaseline's bag of words counts in float32.
    return layer.name in FLOAT32_BY_DESIGN or isinstance(layer, keras.layers.CategoryEncoding)
IMAGE = 32
SEQUENCE = 8


def _bert_inputs(batch=2, vocabulary=60, length=SEQUENCE, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocabulary, size=(batch, length)).astype("int32")
    mask = np.ones((batch, length), "int32")
    mask[0, -3:] = 0
    return {"token_ids": ids * mask, "padding_mask": mask, "segment_ids": np.zeros_like(ids)}


def _images(batch=2, size=IMAGE):
    return np.random.default_rng(1).uniform(size=(batch, size, size, 3)).astype("float32")


def _tiny_bert():
    from memotion_tf.models.pretrained import text_backbone

    return text_backbone("", vocabulary_size=60, max_sequence_length=16, num_layers=1, num_heads=2,
                         hidden_dim=8, intermediate_dim=16)


def _build(name):
    """(model, inputs) of a tiny model of each model class."""
    from memotion_tf import models
    from memotion_tf.models.crom_ae import CROMAE, RawNCook, clip_meme_classifier
    from memotion_tf.models.label_attention import LabelAttentionFusion
    from memotion_tf.models.linear_baseline import LinearBaseline
    from memotion_tf.models.prompt_lm import PromptLM, causal_lm_backbone

    tokens = {"token_ids": np.random.default_rng(0).integers(0, 50, size=(2, SEQUENCE)).astype("int32")}
    if name in ("lstm_t", "conv1d_t"):
        return models.build_model(name, num_classes=3, vocabulary_size=50, sequence_length=SEQUENCE,
                                  embedding_dim=4, **({"lstm_units": 4} if name == "lstm_t" else {"filters": 4})), tokens
    if name == "cnn_i":
        return models.build_model(name, num_classes=3, image_size=IMAGE, filters=(4, 8)), {"image": _images()}
    if name == "cnn_lstm_ti":
        return (models.build_model(name, num_classes=3, vocabulary_size=50, sequence_length=SEQUENCE,
                                   image_size=IMAGE, embedding_dim=4, lstm_units=4, filters=(4,), branch_units=4,
                                   fusion_units=4), dict(tokens, image=_images()))
    if name == "bert_classifier":
        return models.build_model(name, num_classes=3, backbone=_tiny_bert()), _bert_inputs()
    if name == "resnet_classifier":
        return models.build_model(name, num_classes=3, image_size=IMAGE, depth=50), {"image": _images()}
    if name in ("tfn", "hfm"):
        args = {"text_units": 4, "image_units": 4, "fusion_units": 4} if name == "tfn" else {
            "hidden_units": 4, "num_attributes": 3}
        return (models.build_model(name, num_classes=3, backbone=_tiny_bert(), image_size=IMAGE, depth=50, **args),
                dict(_bert_inputs(), image=_images()))
    if name == "label_attention":
        model = LabelAttentionFusion(_tiny_bert(), num_labels=4, image_size=IMAGE, label_dim=4,
                                     classifier_units=(4, 4), image_backbone="tiny")
        return model, dict(_bert_inputs(), image=_images())
    features = {"image_features": np.random.default_rng(2).normal(size=(2, 6)).astype("float32"),
                "text_features": np.random.default_rng(3).normal(size=(2, 6)).astype("float32")}
    if name == "crom_ae":
        return CROMAE(image_dim=6, text_dim=6, latent_dim=4), features
    if name == "raw_n_cook":
        return RawNCook(image_dim=6, text_dim=6, num_labels=4, latent_dim=4, hidden_units=4), features
    if name == "clip_meme_classifier":
        from memotion_tf.features.clip import CLIPFeatureExtractor, build_clip

        backbone, _ = build_clip("", image_size=IMAGE, sequence_length=SEQUENCE, vision_layers=1, text_layers=1)
        extractor = CLIPFeatureExtractor(backbone)
        head = RawNCook(image_dim=extractor.feature_dim, text_dim=extractor.feature_dim, num_labels=4,
                        latent_dim=4, hidden_units=4)
        ids = np.random.default_rng(4).integers(0, 500, size=(2, SEQUENCE)).astype("int32")
        ids[:, -1] = 514  # the end token, where CLIP pools
        return clip_meme_classifier(extractor, head), {"token_ids": ids, "image": _images()}
    if name == "linear_baseline":
        return LinearBaseline(vocabulary_size=50, sequence_length=SEQUENCE, num_classes=6, units=4), tokens
    if name == "prompt_lm":
        backbone = causal_lm_backbone(family="qwen", vocabulary_size=50)
        return PromptLM(backbone, num_prompt_tokens=2), {"token_ids": tokens["token_ids"],
                                                         "padding_mask": np.ones((2, SEQUENCE), "int32")}
    raise KeyError(name)


MODEL_CLASSES = ["lstm_t", "conv1d_t", "cnn_i", "cnn_lstm_ti", "bert_classifier", "resnet_classifier", "tfn",
                 "hfm", "label_attention", "crom_ae", "raw_n_cook", "clip_meme_classifier", "linear_baseline",
                 "prompt_lm"]


def _layers(model):
    return [layer for layer in model._flatten_layers(include_self=False) if not isinstance(layer, keras.Model)]


# The ResNet-50 models take 5-30 s to build: under bfloat16 they run with --run-large.
RESNET_CLASSES = ("resnet_classifier", "tfn", "hfm")


@pytest.mark.parametrize("name, policy", [
    (name, policy) if not (policy == "mixed_bfloat16" and name in RESNET_CLASSES)
    else pytest.param(name, policy, marks=pytest.mark.large)
    for policy in MIXED for name in MODEL_CLASSES])
def test_policy_reaches_every_layer_and_outputs_stay_float32(name, policy):
    with policy_scope(policy):
        keras.utils.set_random_seed(0)
        model, inputs = _build(name)
    compute = "float16" if policy == "mixed_float16" else "bfloat16"
    layers = _layers(model)
    off_policy = [layer.name for layer in layers if layer.dtype_policy.name != policy and not _float32_by_design(layer)]
    assert not off_policy
    assert any(layer.compute_dtype == compute for layer in layers)
    # Variables stay float32 (the optimizer updates float32 master weights).
    assert {w.dtype for w in model.weights} <= {"float32", "int32", "int64", "uint32"} or not model.weights
    outputs = model(inputs, training=False)
    for output in tf.nest.flatten(outputs):
        assert output.dtype == tf.float32
        assert np.isfinite(np.asarray(output)).all()


def test_two_view_wrapper_output_stays_float32():
    from memotion_tf.training.two_view import two_view_model

    with policy_scope("mixed_float16"):
        model, inputs = _build("bert_classifier")
        wrapper = two_view_model(model)
    outputs = wrapper(dict(inputs, **{f"raw_{k}": v for k, v in inputs.items()}))
    assert outputs.dtype == tf.float32 and outputs.shape == (2, 6)


@pytest.mark.parametrize("policy, wrapped", [("mixed_float16", True), ("mixed_bfloat16", False),
                                             ("float32", False)])
def test_compile_wraps_the_optimizer_in_loss_scaling_under_float16_only(policy, wrapped):
    with policy_scope(policy):
        model = _dense_model()
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) is wrapped


# Tolerances of a mixed-precision run against float32 from the same initial
# weights: float16's rounding (11-bit mantissa) moves each step a little
# (measured on this row: probabilities within 0.002, losses within 2e-4
# relative, the same predictions).
PROBABILITY_TOLERANCE = 0.02
LOSS_RELATIVE_TOLERANCE = 0.01
METRIC_TOLERANCE = 0.03  # about 3 of the 96 validation memes


def test_quick_row_under_mixed_float16_matches_float32():
    """UoR's Conv1D-T row (quick profile, shrunk to 2 epochs of 12 steps) trained
    through the real pipeline (`papers.memotion.train_once`) in float32 and under
    mixed_float16 (loss scaling included), chosen by the config's `precision`:
    validation probabilities, losses, macro-F1 and accuracy agree within the
    tolerances above, and the global policy is back to float32 afterwards."""
    from memotion_tf.config import load_config
    from memotion_tf.evaluation.metrics import classification_metrics
    from memotion_tf.papers.memotion import train_once
    from tests import fixtures

    config = load_config("configs/uor/conv1d_t.toml", overrides=[
        "epochs=2", "batch_size=32", "image_size=32", "max_length=24", "model_args.dropout=0.0"])
    data = fixtures.memotion_data()
    labels = data.split("val")["label"].to_numpy()
    runs = {}
    for policy in ("float32", "mixed_float16"):
        history = keras.callbacks.History()
        model, _, probabilities = train_once(config.replace(precision=policy), data, seed=0,
                                             strategy=tf.distribute.get_strategy(), callbacks=[history], verbose=0)
        history = history.history
        assert keras.config.dtype_policy().name == "float32"
        assert model.dtype_policy.name == policy
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) is (policy == "mixed_float16")
        runs[policy] = (history, np.asarray(probabilities, "float64"))
    (h32, p32), (h16, p16) = runs["float32"], runs["mixed_float16"]
    assert np.abs(p16 - p32).max() <= PROBABILITY_TOLERANCE
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(h16[key], h32[key], rtol=LOSS_RELATIVE_TOLERANCE)
    m16, m32 = (classification_metrics(labels, p.argmax(-1), 3) for p in (p16, p32))
    for metric in ("macro_f1", "accuracy"):
        assert abs(m16[metric] - m32[metric]) <= METRIC_TOLERANCE, (metric, m16, m32)


# --- Gradient accumulation ---------------------------------------------------------


def _regression(seed=0, n=32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 3)) + 0.1 * rng.normal(size=(n, 3))).astype("float32")
    return x, y


def _mlp():
    # No dropout, no batch normalisation: a batch's gradient is the mean of its examples'.
    x = keras.Input((5,))
    h = keras.layers.Dense(8, activation="tanh")(x)
    return keras.Model(x, keras.layers.Dense(3)(h))


@pytest.mark.parametrize("optimizer", [
    lambda **k: keras.optimizers.SGD(0.05, momentum=0.9, **k),
    lambda **k: keras.optimizers.Adam(0.01, **k),  # bias correction counts updates, not micro-steps
], ids=["sgd_momentum", "adam"])
def test_k_accumulated_steps_equal_one_step_on_the_k_times_batch(optimizer):
    x, y = _regression()
    k, updates = 4, 3
    results = []
    for steps, batch in ((None, len(x)), (k, len(x) // k)):
        keras.utils.set_random_seed(0)
        model = _mlp()
        model.compile(optimizer(gradient_accumulation_steps=steps), "mse")  # mean over the batch
        # Each epoch: one update of the whole batch, or k micro-batches accumulated into one.
        model.fit(x, y, batch_size=batch, epochs=updates, shuffle=False, verbose=0)
        assert int(model.optimizer.iterations) == updates  # Keras counts updates, not micro-steps
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_accumulation_steps_of_a_row_equal_one_update_on_the_whole_batch():
    """UoR's Conv1D-T row through `papers.memotion.train_once`: batch 20 in 4
    accumulated micro-batches of 5 trains the same weights as batch 20 in one
    step (Adam, no dropout; 380 training memes, so every batch is whole)."""
    from memotion_tf.config import load_config
    from memotion_tf.papers.memotion import train_once
    from tests import fixtures

    config = load_config("configs/uor/conv1d_t.toml", overrides=[
        "epochs=1", "batch_size=20", "max_length=16", "model_args.dropout=0.0"])
    data = fixtures.memotion_data()
    assert len(data.split("train")) == 380
    weights = []
    for steps in (1, 4):
        model, _, _ = train_once(config.replace(accumulation_steps=steps), data, seed=0,
                                 strategy=tf.distribute.get_strategy(), verbose=0)
        assert int(model.optimizer.iterations) == 380 // 20
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_accumulation_steps_setting():
    from memotion_tf.training.memory import GiB, estimate_memory, resolve_accumulation

    model = _mlp()
    assert resolve_accumulation(1, model, 32) == 1
    assert resolve_accumulation(4, model, 32) == 4
    with pytest.raises(ConfigError, match="does not divide"):
        resolve_accumulation(3, model, 32)
    assert resolve_accumulation(0, model, 32) == 1  # no accelerator here: auto is none
    # auto against a device: the fewest steps whose micro-batches fit.
    big = estimate_memory(model, 4096)
    # Half the activations must go; two micro-steps add Keras' gradient accumulators.
    capacity = (big.total - big.activations / 2 + big.gradients) / 0.85
    assert resolve_accumulation(0, model, 4096, capacity_bytes=capacity) == 2
    assert resolve_accumulation(0, model, 4096, capacity_bytes=64 * GiB) == 1


def test_accumulation_under_a_mirrored_strategy_is_refused_clearly():
    """Keras 3 cannot accumulate gradients under MirroredStrategy (keras-team/keras#20582):
    the run would fail at its first step, so the check says so before."""
    from memotion_tf.training.strategy import check_gradient_accumulation, get_strategy

    strategy = get_strategy(logical_cpus=2)
    assert check_gradient_accumulation(strategy, 1) == 1
    assert check_gradient_accumulation(tf.distribute.get_strategy(), 4) == 4
    with pytest.raises(ConfigError, match="keras-team/keras#20582"):
        check_gradient_accumulation(strategy, 4)
    # What the check prevents (if Keras fixes it, this fails and the check can go).
    x, y = _regression()
    with strategy.scope():
        model = _mlp()
        model.compile(keras.optimizers.SGD(0.05, gradient_accumulation_steps=2), "mse")
    with pytest.raises(RuntimeError, match="merge_call"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)


def _embedding_model():
    inputs = keras.Input((6,), dtype="int32")
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 4)(inputs))
    return keras.Model(inputs, keras.layers.Dense(3)(h))


def test_accumulated_sparse_gradients_equal_one_step_on_the_k_times_batch():
    """An Embedding's gradient is a tf.IndexedSlices, which Keras 3's Adam
    applies lazily (untouched rows keep their moments), while accumulated
    gradients are dense: `DenseAdam` gives the same update either way, Keras'
    Adam does not (if Keras changes, the last line fails and the mixin can go)."""
    from memotion_tf.training.optimizers import DenseAdam

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 50, (40, 6)), rng.normal(size=(40, 3)).astype("float32")

    def train(optimizer_class, steps, batch):
        keras.utils.set_random_seed(0)
        model = _embedding_model()
        model.compile(optimizer_class(0.01, gradient_accumulation_steps=steps), "mse")
        model.fit(x, y, batch_size=batch, epochs=2, shuffle=False, verbose=0)  # two updates an epoch
        return model.get_weights()[0]  # the embedding table

    whole = train(DenseAdam, None, 20)
    np.testing.assert_allclose(train(DenseAdam, 4, 5), whole, rtol=1e-5, atol=1e-6)
    assert np.abs(train(keras.optimizers.Adam, None, 20) - whole).max() > 1e-3
