"""The training loop that replaces `Model.fit` across workers, held to `fit` on one machine;
its backups; the learning-rate scaling; the cluster set-up and the non-chief write redirect."""

import json
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from memotion_tf import io
from memotion_tf.config import ConfigError
from memotion_tf.losses.tsa import TSALoss, TSAProgress
from memotion_tf.training import cluster, loop
from memotion_tf.training.loop import WorkerBackup, per_worker, train_loop
from memotion_tf.training.schedules import scaled_learning_rate
from memotion_tf.training import strategy as strategy_module
from memotion_tf.training.strategy import get_strategy, is_chief, is_multi_worker, single_machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 3


def _data(rows=50, batch_size=8, seed=0):
    # 50 rows in batches of 8: the last batch is partial, as in real runs.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, rows), 3).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def _model(strategy, loss="categorical_crossentropy", jit_compile=False):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        # Without XLA unless asked, as fit on a CPU ("auto"); on a GPU fit would compile.
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss, metrics=["accuracy"],
                      jit_compile=jit_compile)
    return model


def _loss_xla_cannot_compile(y_true, y_pred):
    """Cross-entropy plus 0 x a string op: XLA has no kernel for AsString, so
    compiling a step with this loss fails, and running it does not."""
    text = tf.strings.as_string(y_pred[:, 0])
    return keras.losses.categorical_crossentropy(y_true, y_pred) + 0.0 * tf.cast(tf.strings.length(text), tf.float32)


class Recorder(keras.callbacks.Callback):
    """Every callback call with its step or epoch and its log keys; epoch logs in full."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def _record(self, name, index=None, logs=None):
        self.calls.append((name, index, tuple(sorted(logs or {}))))

    def on_train_begin(self, logs=None):
        self._record("train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._record("train_end", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._record("epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._record("epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._record("train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._record("train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._record("test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._record("test_end", logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._record("test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._record("test_batch_end", batch, logs)


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("replicas", [1, 2])
def test_loop_gives_what_fit_gives(replicas):
    """Same model, data and seed: the loop's History, callback calls and final
    weights equal fit's, on one replica and on MirroredStrategy over 2 CPUs."""
    strategy = get_strategy(logical_cpus=replicas)
    assert strategy.num_replicas_in_sync == replicas
    runs = {}
    for name in ("fit", "loop"):
        model, recorder = _model(strategy), Recorder()
        train = model.fit if name == "fit" else lambda x, **kw: train_loop(model, x, **kw)
        history = train(_data(), validation_data=_data(rows=20, seed=1), epochs=EPOCHS,
                        callbacks=[recorder], verbose=0, shuffle=False)
        runs[name] = history.history, recorder, _weights(model)
    (fit_history, fit_calls, fit_weights), (loop_history, loop_calls, loop_weights) = runs["fit"], runs["loop"]
    assert sorted(loop_history) == sorted(fit_history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in fit_history:
        np.testing.assert_allclose(loop_history[key], fit_history[key], rtol=1e-5, atol=1e-6)
    assert loop_calls.calls == fit_calls.calls
    assert [c[0] for c in loop_calls.calls].count("train_batch_end") == EPOCHS * 7
    for a, b in zip(loop_weights, fit_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The model learned something: not a comparison of two runs that did nothing.
    assert loop_history["loss"][-1] < loop_history["loss"][0]


def test_loop_trains_the_compiled_tsa_loss_like_fit():
    """TSA reads its progress variable inside the compiled loss, moved by a callback."""
    strategy = tf.distribute.get_strategy()
    histories = []
    for use_loop in (False, True):
        model = _model(strategy, loss=TSALoss(schedule="linear"))
        callbacks = [TSAProgress(total_steps=EPOCHS * 7)]
        train = (lambda x, **kw: train_loop(model, x, **kw)) if use_loop else model.fit
        histories.append(train(_data(), epochs=EPOCHS, callbacks=callbacks, verbose=0, shuffle=False).history)
        assert float(model.loss.progress.numpy()) == pytest.approx((EPOCHS * 7 - 1) / (EPOCHS * 7))
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_the_models_jit_compile_reaches_the_step(jit_compile):
    """With jit_compile=True the step goes through XLA, which rejects a string op
    in the loss; without, the same model trains."""
    model = _model(tf.distribute.get_strategy(), loss=_loss_xla_cannot_compile, jit_compile=jit_compile)
    if jit_compile:
        with pytest.raises(tf.errors.InvalidArgumentError, match="AsString"):
            train_loop(model, _data(), epochs=1, verbose=0)
    else:
        assert len(train_loop(model, _data(), epochs=1, verbose=0).history["loss"]) == 1


def test_the_xla_loop_gives_what_xla_fit_gives():
    strategy = tf.distribute.get_strategy()
    results = []
    for use_loop in (False, True):
        model = _model(strategy, jit_compile=True)
        train = (lambda x, **kw: train_loop(model, x, **kw)) if use_loop else model.fit
        history = train(_data(), validation_data=_data(rows=20, seed=1), epochs=EPOCHS, verbose=0, shuffle=False)
        results.append((history.history, _weights(model)))
    (fit_history, fit_weights), (loop_history, loop_weights) = results
    for key in fit_history:
        np.testing.assert_allclose(loop_history[key], fit_history[key], rtol=1e-5, atol=1e-6)
    for a, b in zip(loop_weights, fit_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_xla_is_left_out_with_a_warning_where_it_cannot_compile_the_step(caplog, monkeypatch):
    # Two logical CPUs: one XLA function cannot use variables on both devices.
    model = _model(get_strategy(logical_cpus=2), loss=_loss_xla_cannot_compile, jit_compile=True)
    with caplog.at_level("WARNING", logger="memotion_tf"):
        assert len(train_loop(model, _data(), epochs=1, verbose=0).history["loss"]) == 1
    assert "XLA cannot compile one training step over this worker's 2 devices" in caplog.text
    # Workers on CPUs: XLA has no collective operations there.
    one_cpu = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert loop.xla_step(one_cpu, True) and not loop.xla_step(one_cpu, False)
    monkeypatch.setattr(loop, "is_multi_worker", lambda strategy: True)
    caplog.clear()
    with caplog.at_level("WARNING", logger="memotion_tf"):
        assert not loop.xla_step(one_cpu, True)
    assert "no collective operations on CPUs" in caplog.text


def test_later_calls_reuse_the_traced_step_until_the_model_is_compiled_again():
    model = _model(tf.distribute.get_strategy())
    train_loop(model, _data(), epochs=1, verbose=0)
    train_function, _ = loop.step_functions(model)
    train_loop(model, _data(), epochs=1, verbose=0)
    assert loop.step_functions(model)[0] is train_function
    assert train_function.experimental_get_tracing_count() == 1
    # A new optimizer (here one that changes nothing) is used, not the one traced before.
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="categorical_crossentropy", jit_compile=False)
    before = _weights(model)
    train_loop(model, _data(), epochs=1, verbose=0)
    assert loop.step_functions(model)[0] is not train_function
    for a, b in zip(_weights(model), before):
        np.testing.assert_array_equal(a, b)


class StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("interrupted")


def test_a_run_interrupted_and_resumed_ends_where_an_uninterrupted_one_does(tmp_path, caplog):
    """The backup restores the weights and the optimizer (Adam's moments and step)
    and the epoch: resuming after 2 of 4 epochs trains 2 more and ends with the
    weights of 4 uninterrupted epochs."""
    strategy = tf.distribute.get_strategy()
    backup = str(tmp_path / "backup")
    whole = _model(strategy)
    train_loop(whole, _data(), epochs=4, verbose=0)

    first = _model(strategy)
    with pytest.raises(KeyboardInterrupt):
        train_loop(first, _data(), epochs=4, verbose=0,
                   callbacks=[keras.callbacks.BackupAndRestore(backup), StopAt(2)])
    assert tf.train.latest_checkpoint(backup)
    caplog.set_level("INFO", logger="memotion_tf")
    resumed = _model(strategy)
    history = train_loop(resumed, _data(), epochs=4, verbose=0,
                         callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert history.epoch == [2, 3] and len(history.history["loss"]) == 2
    assert "at epoch 3" in caplog.text
    for a, b in zip(_weights(resumed), _weights(whole)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not os.path.exists(backup)  # deleted once training finished


def test_backup_every_few_batches_resumes_at_the_start_of_its_epoch(tmp_path):
    strategy = tf.distribute.get_strategy()
    backup = str(tmp_path / "backup")
    model = _model(strategy)
    saver = WorkerBackup(backup, save_freq=3, delete_checkpoint=False)
    with pytest.raises(KeyboardInterrupt):
        train_loop(model, _data(), epochs=4, verbose=0, callbacks=[saver, StopAt(2)])
    # 7 batches an epoch, a backup every 3: the last one is in epoch 1 (its 5th batch),
    # so training resumes at the start of epoch 1.
    again = WorkerBackup(backup, save_freq=3)
    again.set_model(_model(strategy))
    again.on_train_begin()
    assert again.initial_epoch == 1
    with pytest.raises(ValueError, match="save_freq"):
        WorkerBackup(backup, save_freq=0)


def test_fit_takes_the_loop_and_the_dataset_function_across_workers(monkeypatch):
    monkeypatch.setattr(loop, "is_multi_worker", lambda strategy: True)
    model, built = _model(tf.distribute.get_strategy()), []

    def make(rows, batch_size):
        built.append((rows, batch_size))
        return _data(batch_size=batch_size)

    history = loop.fit(model, _data(), dataset_fn=per_worker(make, 8), epochs=2, verbose=0, shuffle=False)
    assert built == [(slice(0, None, 1), 8)] and len(history.history["loss"]) == 2
    with pytest.raises(ValueError, match="class_weight"):
        loop.fit(model, _data(), epochs=1, class_weight={0: 1.0, 1: 1.0, 2: 1.0})


def test_per_worker_gives_each_worker_every_nth_row_at_the_replica_batch():
    seen = []

    def make(rows, batch_size):
        seen.append((rows, batch_size))
        return tf.data.Dataset.from_tensor_slices(np.arange(10)[rows]).batch(batch_size)

    dataset_fn = per_worker(make, global_batch_size=8)
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=4)
    batches = [b.numpy().tolist() for b in dataset_fn(context)]
    assert seen == [(slice(1, None, 2), 2)]
    assert batches == [[1, 3], [5, 7], [9]]


def test_one_machine_is_not_multi_worker_and_is_the_chief(monkeypatch):
    strategy = tf.distribute.get_strategy()
    assert not is_multi_worker(strategy) and is_chief(strategy)
    assert single_machine(strategy, "1213Li") is strategy
    # The runners that fit NumPy arrays stop with a clear error across workers.
    monkeypatch.setattr(strategy_module, "is_multi_worker", lambda strategy: True)
    with pytest.raises(ConfigError, match="1213Li does not train across several workers"):
        single_machine(strategy, "1213Li")


def test_logical_cpus_are_split_in_a_fresh_process():
    """`--logical-cpus 2` starts from a process where TensorFlow has not run yet
    (this one has: conftest split its CPU)."""
    code = "from memotion_tf.training.strategy import get_strategy; print(get_strategy(2).num_replicas_in_sync)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["2"]


def test_linear_learning_rate_scaling():
    assert scaled_learning_rate(1e-3, 1) == 1e-3
    assert scaled_learning_rate(1e-3, 4) == pytest.approx(4e-3)
    assert scaled_learning_rate(1e-3, 4, "none") == 1e-3
    with pytest.raises(ValueError, match="lr_scaling"):
        scaled_learning_rate(1e-3, 2, "sqrt")


def test_tf_config_from_worker_addresses():
    config = json.loads(cluster.tf_config(["a:1", "b:2"], 1))
    assert config == {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}
    with pytest.raises(ConfigError, match="not in 0..1"):
        cluster.tf_config(["a:1", "b:2"], 2)
    with pytest.raises(ConfigError, match="host:port"):
        cluster.tf_config(["a:1", "b"], 0)


def test_chief_rule():
    assert cluster.is_chief({"worker": ["a", "b"]}, "worker", 0)
    assert not cluster.is_chief({"worker": ["a", "b"]}, "worker", 1)
    assert cluster.is_chief({"chief": ["c"], "worker": ["a"]}, "chief", 0)
    assert not cluster.is_chief({"chief": ["c"], "worker": ["a"]}, "worker", 0)


def test_a_non_chief_worker_writes_under_a_private_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_redirects", [])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # setenv, so that the TF_CONFIG cluster.setup writes is removed afterwards.
    monkeypatch.setenv(cluster.TF_CONFIG, "")
    out = tmp_path / "runs"
    assert cluster.setup(None, 0, str(out)) is None  # no cluster: nothing changes
    assert cluster.setup("127.0.0.1:1,127.0.0.1:2", 0, str(out)) is None  # the chief writes in place
    private = cluster.setup("127.0.0.1:1,127.0.0.1:2", 1, str(out))
    assert json.loads(os.environ[cluster.TF_CONFIG])["task"]["index"] == 1
    io.atomic_write_json(out / "uor" / "results.json", {"rows": []})
    with io.atomic_directory(out / "uor" / "saved_model") as folder:
        open(os.path.join(folder, "saved_model.pb"), "wb").close()
    assert not out.exists()
    assert json.load(open(os.path.join(private, "uor", "results.json"))) == {"rows": []}
    assert os.path.exists(os.path.join(private, "uor", "saved_model", "saved_model.pb"))
    # Paths outside the output folder are not redirected.
    assert io.write_path(str(tmp_path / "elsewhere.json")) == str(tmp_path / "elsewhere.json")
    # The same command started again (after a SIGKILL) gets the same folder, emptied.
    assert cluster.private_folder(str(out), "worker", 1) == private and os.listdir(private) == []


def test_the_cluster_set_up_by_a_test_does_not_outlive_it():
    # Ordering guard for the test above: a TF_CONFIG left behind would make every
    # later get_strategy in this process try (and fail) to start a multi-worker strategy.
    assert cluster.cluster_task() is None and io._redirects == []


CREATE = """
import os, sys, time
from memotion_tf.io import atomic_directory, create_once

def create(path):
    with open(sys.argv[2], "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(1.0)  # both processes are waiting on the lock meanwhile
    with atomic_directory(path) as tmp:
        open(os.path.join(tmp, "labels.csv"), "w").close()

create_once(sys.argv[1], create)
assert os.path.exists(os.path.join(sys.argv[1], "labels.csv"))
"""


def test_processes_starting_together_create_the_synthetic_data_once(tmp_path):
    target, calls = str(tmp_path / "data" / "synthetic"), str(tmp_path / "calls.txt")
    processes = [subprocess.Popen([sys.executable, "-c", CREATE, target, calls], cwd=ROOT,
                                  env=dict(os.environ, PYTHONPATH=ROOT)) for _ in range(2)]
    assert [p.wait(timeout=60) for p in processes] == [0, 0]
    assert len(open(calls).read().split()) == 1
