import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from memotion_tf.losses.tsa import TSALoss, TSAProgress, tsa_cross_entropy, tsa_per_example, tsa_threshold

# Three classes, t = 0.3. Thresholds by hand:
#   linear: 0.3 * 2/3 + 1/3                = 0.533333
#   exp:    exp(5 * (0.3 - 1)) * 2/3 + 1/3 = exp(-3.5) * 2/3 + 1/3 = 0.353465
#   log:    (1 - exp(-1.5)) * 2/3 + 1/3    = 0.851247
PROGRESS = 0.3
THRESHOLDS = {"linear": 0.533333, "exp": 0.353465, "log": 0.851247}

# Correct-class probabilities 0.5, 0.8, 0.3, 0.9, chosen so each schedule keeps
# a different subset: linear keeps {0.5, 0.3}, exp {0.3}, log {0.5, 0.8, 0.3}.
LABELS = np.array([0, 1, 2, 0])
PROBS = np.array(
    [[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.4, 0.3, 0.3], [0.9, 0.05, 0.05]], dtype="float32"
)
EXPECTED_KEEP = {"linear": [1, 0, 1, 0], "exp": [0, 0, 1, 0], "log": [1, 1, 1, 0]}
# At t = 0 (threshold 1/3) every correct-class probability here is above it.
CONFIDENT = np.array(
    [[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05]], dtype="float32"
)
EXPECTED_LOSS = {
    "linear": (-math.log(0.5) - math.log(0.3)) / 2,  # 0.948560
    "exp": -math.log(0.3),  # 1.203973
    "log": (-math.log(0.5) - math.log(0.8) - math.log(0.3)) / 3,  # 0.706755
}


@pytest.mark.parametrize("schedule", ["linear", "exp", "log"])
def test_threshold_hand_values(schedule):
    assert float(tsa_threshold(PROGRESS, 3, schedule)) == pytest.approx(THRESHOLDS[schedule], abs=1e-6)
    # Every schedule goes from 1/K to 1 (exp starts and log ends within exp(-5)).
    assert float(tsa_threshold(1.0, 3, schedule)) == pytest.approx(1.0, abs=5e-3)
    assert float(tsa_threshold(0.0, 3, schedule)) == pytest.approx(1 / 3, abs=5e-3)


def test_threshold_clips_progress_and_rejects_unknown_schedule():
    assert float(tsa_threshold(1.7, 4, "linear")) == pytest.approx(1.0)
    assert float(tsa_threshold(-1.0, 4, "linear")) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="schedule"):
        tsa_threshold(0.5, 3, "cosine")


@pytest.mark.parametrize("schedule", ["linear", "exp", "log"])
def test_mask_and_loss_hand_values(schedule):
    cross_entropy, keep = tsa_per_example(LABELS, PROBS, PROGRESS, schedule)
    np.testing.assert_allclose(keep.numpy(), EXPECTED_KEEP[schedule])
    np.testing.assert_allclose(cross_entropy.numpy(), -np.log([0.5, 0.8, 0.3, 0.9]), rtol=1e-6)
    loss = tsa_cross_entropy(LABELS, PROBS, PROGRESS, schedule)
    assert float(loss) == pytest.approx(EXPECTED_LOSS[schedule], rel=1e-5)


@pytest.mark.parametrize("schedule", ["linear", "exp", "log"])
def test_label_forms_and_logits_agree(schedule):
    expected = EXPECTED_LOSS[schedule]
    one_hot = np.eye(3, dtype="float32")[LABELS]
    column = LABELS[:, None]
    for labels in (one_hot, column):
        assert float(tsa_cross_entropy(labels, PROBS, PROGRESS, schedule)) == pytest.approx(expected, rel=1e-5)
    # log(p) + 3 are logits whose softmax is p.
    logits = np.log(PROBS) + 3.0
    loss = tsa_cross_entropy(LABELS, logits, PROGRESS, schedule, from_logits=True)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_nothing_kept_gives_zero_and_no_gradient():
    logits = tf.Variable(np.log(CONFIDENT))
    with tf.GradientTape() as tape:
        loss = tsa_cross_entropy(LABELS, logits, 0.0, from_logits=True)
    assert float(loss) == 0.0
    np.testing.assert_array_equal(tape.gradient(loss, logits).numpy(), 0.0)


def test_one_kept_example_is_divided_by_one_not_batch():
    # exp keeps only the third example: the loss is its own CE, not CE / 4.
    assert float(tsa_cross_entropy(LABELS, PROBS, PROGRESS, "exp")) == pytest.approx(-math.log(0.3), rel=1e-5)


def test_dropped_examples_get_no_gradient():
    logits = tf.Variable(np.log(PROBS))
    with tf.GradientTape() as tape:
        loss = tsa_cross_entropy(LABELS, logits, PROGRESS, "linear", from_logits=True)
    grad = tape.gradient(loss, logits).numpy()
    np.testing.assert_array_equal(grad[[1, 3]], 0.0)
    assert np.abs(grad[[0, 2]]).min() > 0


@pytest.mark.parametrize("schedule", ["linear", "exp", "log"])
def test_keras_loss_matches_function(schedule):
    loss = TSALoss(schedule=schedule)
    loss.progress.assign(PROGRESS)
    assert float(loss(LABELS, PROBS)) == pytest.approx(EXPECTED_LOSS[schedule], rel=1e-5)
    one_hot = np.eye(3, dtype="float32")[LABELS]
    assert float(loss(one_hot, PROBS)) == pytest.approx(EXPECTED_LOSS[schedule], rel=1e-5)


def test_keras_loss_nothing_kept_and_sample_weight():
    loss = TSALoss()
    loss.progress.assign(0.0)
    assert float(loss(LABELS, CONFIDENT)) == 0.0
    loss.progress.assign(PROGRESS)
    # Weights scale the kept terms; the count of kept examples stays 2.
    weighted = loss(LABELS, PROBS, sample_weight=np.array([2.0, 1.0, 0.0, 1.0]))
    assert float(weighted) == pytest.approx(-2 * math.log(0.5) / 2, rel=1e-5)


def test_progress_variable_is_read_at_run_time_in_tf_function():
    loss = TSALoss(schedule="linear")
    compiled = tf.function(lambda y, p: loss(y, p))
    values = []
    for t in (0.0, PROGRESS, 1.0):
        loss.progress.assign(t)
        values.append(float(compiled(LABELS, PROBS)))
    # t = 0: threshold 1/3 keeps only the 0.3 example.
    assert values[0] == pytest.approx(-math.log(0.3), rel=1e-5)
    assert values[1] == pytest.approx(EXPECTED_LOSS["linear"], rel=1e-5)
    # t = 1: threshold 1 keeps everything.
    assert values[2] == pytest.approx(-np.log([0.5, 0.8, 0.3, 0.9]).mean(), rel=1e-5)
    assert compiled.experimental_get_tracing_count() == 1


def test_config_round_trip():
    loss = TSALoss(schedule="log", from_logits=True)
    restored = TSALoss.from_config(loss.get_config())
    assert (restored.schedule, restored.from_logits, restored.name) == ("log", True, loss.name)
    with pytest.raises(ValueError, match="schedule"):
        TSALoss(schedule="step")


def _tiny_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])


def test_callback_sets_progress_each_batch_during_fit():
    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    y = np.arange(16) % 3
    model = _tiny_model()
    loss = TSALoss(schedule="exp")
    model.compile(optimizer="sgd", loss=loss)

    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(loss.progress.numpy()))

    # 2 epochs x 4 batches = 8 steps; the TSALoss is found in model.loss.
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False,
              callbacks=[TSAProgress(total_steps=8), Record()])
    np.testing.assert_allclose(seen, np.arange(8) / 8)


def test_callback_clips_at_one_and_accepts_explicit_target():
    x = np.zeros((8, 4), "float32")
    y = np.zeros(8, "int64")
    model = _tiny_model()
    loss = TSALoss()
    model.compile(optimizer="sgd", loss=loss)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[TSAProgress(total_steps=2, progress=loss)])
    assert float(loss.progress.numpy()) == 1.0
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="TSALoss"):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[TSAProgress(total_steps=2)])


def test_fit_under_mirrored_strategy():
    # conftest splits the CPU into 2 logical devices.
    cpus = tf.config.list_logical_devices("CPU")[:2]
    strategy = tf.distribute.MirroredStrategy([d.name for d in cpus])
    with strategy.scope():
        model = _tiny_model()
        loss = TSALoss(schedule="log")
        model.compile(optimizer="sgd", loss=loss)
    x = np.random.default_rng(1).random((16, 4)).astype("float32")
    history = model.fit(x, np.arange(16) % 3, batch_size=8, epochs=2, verbose=0,
                        callbacks=[TSAProgress(total_steps=4)])
    assert float(loss.progress.numpy()) == pytest.approx(3 / 4)
    assert np.all(np.isfinite(history.history["loss"]))


def test_tsa_aimed_at_a_class_drops_only_that_class():
    """CN-HIT-MI.T aims TSA at one class ("the predicted probability for the category positive is
    higher than a threshold, we remove that data"): a confident example of another class stays."""
    from memotion_tf.losses.tsa import tsa_per_example

    y = [0, 2, 2]  # class 2 is `positive` in Memotion task A's order (negative, neutral, positive)
    p = [[0.9, 0.05, 0.05], [0.05, 0.05, 0.9], [0.3, 0.3, 0.4]]
    _, keep_all = tsa_per_example(y, p, progress=0.0)  # threshold 1/3: every confident example goes
    assert keep_all.numpy().tolist() == [0.0, 0.0, 0.0]
    _, keep_aimed = tsa_per_example(y, p, progress=0.0, target_classes=[2])
    assert keep_aimed.numpy().tolist() == [1.0, 0.0, 0.0]
