"""Training with `Model.fit`'s contract on one machine and across several.

Keras 3's `Model.fit` fails under `tf.distribute.MultiWorkerMirroredStrategy`
(keras-team/keras#20585: before the first step it averages a distributed batch
with `strategy.reduce`, which the collective ops cannot convert to a tensor).
`fit` below calls `model.fit` under every other strategy and `train_loop`
under a multi-worker one. `train_loop` keeps fit's contract:

- each step is the model's own `train_step` (its compiled loss and metrics,
  the optimizer, the loss scaling across replicas) run by `strategy.run` on
  per-replica batches, so TSA, the clean/raw KL loss on a two-view model and
  any other compiled loss train exactly as under `fit`;
- callbacks get fit's calls in fit's order; batch logs are the replicas'
  mean, epoch logs are the metrics read across all replicas (as `fit` reads
  them), validation logs come from `test_step`, prefixed `val_`, every
  `validation_freq` epochs; the returned `History` has fit's keys;
- the progress bar is shown by the chief only;
- a `keras.callbacks.BackupAndRestore` among the callbacks is replaced by
  `WorkerBackup`, the same promise kept with `tf.train.CheckpointManager` so
  that every worker restores the same state.

- the step is compiled with XLA when the model's `jit_compile` says so
  (`model.compile(jit_compile=True)`, or "auto" where Keras resolves it to
  True), as `fit` compiles its step (`strategy.run` and the reduction in one
  XLA function). Where XLA cannot compile that step, one warning says so and
  the step runs without it: across workers on CPUs (XLA has no collective
  operations for CPUs) and over several devices in one worker (one XLA
  function cannot use variables on several devices; `fit` fails there);
- the step functions are traced once per model and strategy and kept, so
  calling `train_loop` again (e.g. one epoch at a time) does not retrace, as
  `fit` keeps its `train_function`.

It runs under any strategy, which is how the tests hold it to `fit`.

    history = fit(model, train_ds, dataset_fn=per_worker(make_train_ds, global_batch),
                  validation_data=val_ds, epochs=3, callbacks=[...])
"""

import json
import logging
import os
import shutil
import tempfile
import weakref
import zlib

import keras
import tensorflow as tf

from memotion_tf import io
from memotion_tf.training.backup import seed_generator_variables
from memotion_tf.training.strategy import is_chief, is_multi_worker

log = logging.getLogger("memotion_tf")

# The `Model.fit` arguments that `train_loop` honours.
LOOP_ARGUMENTS = ("epochs", "validation_data", "callbacks", "verbose", "steps_per_epoch",
                  "validation_freq", "shuffle")


def fit(model, x, *, dataset_fn=None, **kwargs):
    """`model.fit(x, **kwargs)`, or `train_loop` under MultiWorkerMirroredStrategy.

    Args:
        model: a compiled Keras model built in its strategy's scope.
        x: a tf.data.Dataset of global batches.
        dataset_fn: optional `fn(tf.distribute.InputContext)` returning this
            worker's per-replica batches (see `per_worker`); the multi-worker
            loop uses it instead of `x`, so each worker reads only its rows.
        **kwargs: `Model.fit` arguments; across workers only `LOOP_ARGUMENTS`.
    """
    if not is_multi_worker(model.distribute_strategy):
        _log_keras_resume(kwargs.get("callbacks"))
        return model.fit(x, **kwargs)
    unsupported = sorted(set(kwargs) - set(LOOP_ARGUMENTS))
    if unsupported:
        raise ValueError(f"multi-worker training does not support Model.fit's {unsupported}; "
                         f"it takes {list(LOOP_ARGUMENTS)}")
    return train_loop(model, dataset_fn or x, **kwargs)


def _log_keras_resume(callbacks):
    """Log where a `keras.callbacks.BackupAndRestore` resumes, as `WorkerBackup` does."""
    for callback in callbacks or ():
        if not isinstance(callback, keras.callbacks.BackupAndRestore):
            continue
        # The file Keras' `_load_model` reads (training.backup.AtomicBackupAndRestore moves it).
        path = getattr(callback, "_training_metadata_path",
                       os.path.join(callback.backup_dir, "training_metadata.json"))
        try:  # only informative here
            with open(path) as f:
                epoch = int(json.load(f)["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        log.info("resuming from the backup in %s at epoch %d", callback.backup_dir, epoch + 1)


def per_worker(make, global_batch_size):
    """A `dataset_fn` for `strategy.distribute_datasets_from_function`.

    Worker i of n gets `make(slice(i, None, n), per_replica_batch)`: every
    n-th row, batched for one replica. `make(rows, batch_size)` builds the
    pipeline from those rows only, so a worker reads and decodes its own share
    of the data. The shards differ by at most one row, so an epoch has as many
    global steps as one machine has batches (ceil(rows / global batch)); a
    worker whose shard has one batch fewer gets an empty batch for the last
    step from the distributed iterator.
    """

    def dataset_fn(context):
        return make(slice(context.input_pipeline_id, None, context.num_input_pipelines),
                    context.get_per_replica_batch_size(global_batch_size))

    return dataset_fn


def distribute(strategy, data):
    """A distributed dataset from a dataset function or a dataset of global batches.

    A dataset of global batches is split by TensorFlow: under several workers
    each one runs the whole pipeline and keeps its part of every batch
    (`AutoShardPolicy.DATA`), so it must produce the same batches in the same
    order on every worker (fixed shuffle seeds)."""
    if callable(data) and not isinstance(data, tf.data.Dataset):
        return strategy.distribute_datasets_from_function(data)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(data.with_options(options))


def _floats(logs):
    """Logs as Python floats, nested result dicts flattened (as `fit` passes them)."""
    out = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            out.update(_floats(value))
        else:
            out[key] = float(keras.ops.convert_to_numpy(value))
    return out


def _distributed_step(strategy, step, jit_compile=False):
    """One `step` (train_step or test_step) on every replica; its logs averaged
    over the replicas in one all-reduce (one collective operation per step
    across workers, rather than one per metric).

    As in `fit`, `strategy.run` and the reduction form one function, compiled
    with XLA when `jit_compile` is True, called on the next batch by an outer
    function that reads the iterator (XLA cannot)."""

    def one_step(data):
        layout = []

        def replica_step(data):
            logs = step(data)
            values = [tf.cast(v, tf.float32) for v in tf.nest.flatten(logs)]
            layout.append((logs, [v.shape for v in values]))
            return tf.concat([tf.reshape(v, [-1]) for v in values] or [tf.zeros([0])], axis=0)

        means = strategy.reduce("MEAN", strategy.run(replica_step, args=(data,)), axis=None)
        logs, shapes = layout[0]
        parts = tf.split(means, [shape.num_elements() for shape in shapes]) if shapes else []
        return tf.nest.pack_sequence_as(logs, [tf.reshape(p, shape) for p, shape in zip(parts, shapes)])

    one_step = tf.function(one_step, reduce_retracing=True, jit_compile=bool(jit_compile))

    @tf.function(reduce_retracing=True)
    def run(iterator):
        return one_step(next(iterator))

    return run


# model -> (what the functions were traced for, (train_function, test_function));
# weak, so a model's traced functions go with it.
_STEP_FUNCTIONS = weakref.WeakKeyDictionary()


def xla_step(strategy, jit_compile):
    """Whether the step under `strategy` is XLA-compiled for a model whose
    `jit_compile` is given: True when asked for and XLA can compile it (see
    the module docstring); a warning when asked for but not possible."""
    if not jit_compile:
        return False
    try:
        devices = [tf.DeviceSpec.from_string(d) for d in strategy.extended.worker_devices]
    except RuntimeError:  # the default strategy has no device list: one device, no collectives
        return True
    if len(devices) > 1:
        log.warning("jit_compile: XLA cannot compile one training step over this worker's %d devices; "
                    "the step runs without XLA", len(devices))
        return False
    if is_multi_worker(strategy) and devices[0].device_type == "CPU":
        log.warning("jit_compile: XLA has no collective operations on CPUs, so the multi-worker training "
                    "step runs without XLA")
        return False
    return True


def step_functions(model):
    """(train_function, test_function) of `model` under its strategy: each
    `fn(distributed_iterator) -> logs`, the replica step XLA-compiled when
    `model.jit_compile` is True. Traced on first use and kept until the model
    is compiled again (`compile` makes a new loss tracker), as `fit` keeps its
    `train_function`: a new function for every `train_loop` call would retrace."""
    strategy = model.distribute_strategy
    jit_compile = bool(getattr(model, "jit_compile", False))  # False when run_eagerly (Keras sees to it)
    # Compared by identity; the entry holds them, so their ids cannot be reused meanwhile.
    traced_for = (getattr(model, "_loss_tracker", None), strategy, jit_compile)
    cached = _STEP_FUNCTIONS.get(model)
    if cached is None or len(cached[0]) != len(traced_for) or any(
            a is not b for a, b in zip(cached[0], traced_for)):
        # Through a weak reference: a function holding the model would keep it
        # (its own key) alive in the cache for ever.
        ref = weakref.ref(model)
        xla = xla_step(strategy, jit_compile)
        cached = traced_for, (_distributed_step(strategy, lambda data: ref().train_step(data), xla),
                              _distributed_step(strategy, lambda data: ref().test_step(data), xla))
        _STEP_FUNCTIONS[model] = cached
    return cached[1]


def _metrics_or_logs(model, logs):
    """The model's metrics read across all replicas when they are what the steps
    return (a custom step may return other logs), as `fit` does."""
    metrics = _floats(model.get_metrics_result())
    return metrics if logs is not None and set(metrics) == set(logs) else _floats(logs)


def _known_steps(data):
    if isinstance(data, tf.data.Dataset):
        cardinality = int(data.cardinality())
        if cardinality == tf.data.INFINITE_CARDINALITY:
            raise ValueError("an infinite training dataset needs steps_per_epoch")
        if cardinality >= 0:
            return cardinality
    return None


def _run_steps(model, function, iterator, steps, begin, end):
    """Run up to `steps` steps (None: until the data runs out); (last logs, exhausted)."""
    logs, step = None, 0
    while steps is None or step < steps:
        begin(step)
        try:
            # Tensors, as fit passes them: the callback list converts them, off
            # the critical path when its callbacks allow.
            logs = function(iterator)
        except (StopIteration, tf.errors.OutOfRangeError):
            return logs, True
        end(step, logs)
        step += 1
        if model.stop_training:
            break
    return logs, False


def _should_validate(epoch, validation_freq):
    if isinstance(validation_freq, int):
        return (epoch + 1) % validation_freq == 0
    return epoch + 1 in validation_freq


def train_loop(model, x, *, epochs=1, validation_data=None, callbacks=None, verbose="auto",
               steps_per_epoch=None, validation_freq=1, shuffle=False):
    """`Model.fit` by hand: `strategy.run(model.train_step)` over a distributed dataset.

    Args:
        model: a compiled Keras model built in `model.distribute_strategy`'s scope.
        x: a dataset of global batches, or a `dataset_fn(input_context)` of
            per-replica batches (see `per_worker`).
        epochs, callbacks, verbose, steps_per_epoch, validation_freq: as in `fit`.
        validation_data: a dataset of global batches or a `dataset_fn`.
        shuffle: ignored, as `fit` ignores it for datasets: shuffle in tf.data.

    Returns a `keras.callbacks.History`.
    """
    del shuffle
    strategy = model.distribute_strategy
    if verbose == "auto":
        verbose = 1
    if not is_chief(strategy):
        verbose = 0
    callbacks = [_backup_for_loop(c) for c in callbacks or []]
    history = keras.callbacks.History()
    steps = steps_per_epoch or _known_steps(x)
    callback_list = keras.callbacks.CallbackList(
        callbacks + [history], add_progbar=verbose != 0, verbose=verbose, epochs=epochs, steps=steps,
        model=model)
    train_data = distribute(strategy, x)
    val_data = None if validation_data is None else distribute(strategy, validation_data)
    train_function, test_function = step_functions(model)

    model.stop_training = False
    callback_list.on_train_begin()
    initial_epoch = max((c.initial_epoch for c in callbacks if isinstance(c, WorkerBackup)), default=0)
    # With steps_per_epoch the data (usually repeated) flows on across epochs, as in fit.
    iterator = iter(train_data) if steps_per_epoch else None
    training_logs = None
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        if not steps_per_epoch:
            iterator = iter(train_data)
        logs, exhausted = _run_steps(model, train_function, iterator, steps,
                                     callback_list.on_train_batch_begin, callback_list.on_train_batch_end)
        epoch_logs = _metrics_or_logs(model, logs)
        if val_data is not None and _should_validate(epoch, validation_freq):
            model.reset_metrics()
            callback_list.on_test_begin()
            val_logs, _ = _run_steps(model, test_function, iter(val_data), _known_steps(validation_data),
                                     callback_list.on_test_batch_begin, callback_list.on_test_batch_end)
            val_logs = _metrics_or_logs(model, val_logs)
            callback_list.on_test_end(val_logs)
            epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
        callback_list.on_epoch_end(epoch, epoch_logs)
        training_logs = epoch_logs
        if model.stop_training:
            break
        if exhausted and steps_per_epoch:
            log.warning("the training data ran out after %d epochs of %d steps; stopping",
                        epoch + 1, steps_per_epoch)
            break
    if epochs > 0:  # as fit: e.g. copies an exponential moving average into the weights
        model.optimizer.finalize_variable_values(model.trainable_weights)
    callback_list.on_train_end(logs=training_logs)
    return history


def _backup_for_loop(callback):
    if isinstance(callback, keras.callbacks.BackupAndRestore):
        return WorkerBackup(callback.backup_dir, save_freq=callback.save_freq,
                            delete_checkpoint=callback.delete_checkpoint)
    return callback


class WorkerBackup(keras.callbacks.Callback):
    """`keras.callbacks.BackupAndRestore`'s promise for `train_loop`, on every worker.

    At the end of every epoch (or every `save_freq` batches) the model, the
    optimizer, the states of the model's seed generators and the epoch to
    resume at are saved with
    `tf.train.CheckpointManager` in `backup_dir`; when training starts the
    latest backup there is restored and `initial_epoch` says where to go on;
    when training ends the folder is deleted. A mid-epoch backup resumes at the
    start of its epoch, as Keras' does. A checkpoint is whole or absent:
    TensorFlow writes its data first and the `checkpoint` index last.

    Under MultiWorkerMirroredStrategy every worker saves (saving may read
    variables with collective ops) but only the chief into `backup_dir`; the
    others write to a private temporary folder, deleted at the end. Every worker
    restores from `backup_dir`, so it must be on a file system all workers read;
    workers that would resume at different epochs (or train different runs)
    stop with an error instead of training apart.

    Args:
        backup_dir: folder of the backups of this one run.
        save_freq: "epoch", or a number of batches (counted across epochs).
        delete_checkpoint: delete `backup_dir` when training ends.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"save_freq must be 'epoch' or a positive number of batches, got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self.initial_epoch = 0
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="backup_epoch")
        self._manager = None
        self._write_dir = None
        self._batches = 0

    def on_train_begin(self, logs=None):
        strategy = self.model.distribute_strategy
        self._chief = is_chief(strategy)
        if not self.model.optimizer.built:
            # Its slots must exist, mirrored, before a backup is restored into them.
            with strategy.scope():
                self.model.optimizer.build(self.model.trainable_variables)
        # The seed generators' states (dropout masks) are no part of the model's checkpoint: saved
        # beside it, a resumed run draws the random numbers an uninterrupted one would.
        checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.model.optimizer, epoch=self._epoch,
                                         seed_generators=seed_generator_variables(self.model))
        latest = tf.train.latest_checkpoint(self.backup_dir)
        if latest:
            checkpoint.restore(latest).assert_existing_objects_matched()
        self.initial_epoch = int(self._epoch.numpy()) if latest else 0
        _check_workers_agree(strategy, self.initial_epoch, self.backup_dir)
        if latest:
            log.info("resuming from the backup in %s at epoch %d", self.backup_dir, self.initial_epoch + 1)
        if self._chief:
            self._write_dir = self.backup_dir
        else:  # the worker's private folder (training.cluster.setup), else a new temporary one
            self._write_dir = io.write_path(self.backup_dir)
            if self._write_dir == self.backup_dir:
                self._write_dir = tempfile.mkdtemp(prefix="memotion-backup-")
        self._manager = tf.train.CheckpointManager(checkpoint, self._write_dir, max_to_keep=1)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # Batches since the last backup, across epochs, as Keras counts them.
        self._batches += 1
        if self.save_freq != "epoch" and self._batches >= self.save_freq:
            self._batches = 0
            self._save(self._current_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1)

    def _save(self, resume_epoch):
        self._epoch.assign(resume_epoch)
        self._manager.save()

    def on_train_end(self, logs=None):
        if not self._chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)
        elif self.delete_checkpoint:
            shutil.rmtree(self.backup_dir, ignore_errors=True)


def _check_workers_agree(strategy, epoch, backup_dir):
    """Raise on every worker unless all resume `backup_dir`'s run at the same epoch."""
    if not is_multi_worker(strategy):
        return
    mine = tf.constant([[epoch, zlib.crc32(os.path.normpath(backup_dir).encode())]], tf.int64)

    @tf.function
    def gather():
        return strategy.gather(strategy.run(lambda: tf.identity(mine)), axis=0)

    everyone = gather().numpy()
    if (everyone != everyone[0]).any():
        raise RuntimeError(
            f"the workers disagree on where to resume {backup_dir}: epochs "
            f"{everyone[:, 0].tolist()} (replica order) for runs {everyone[:, 1].tolist()}. "
            "Every worker must read the chief's backup folder (put --out on a file system they "
            "all see) and run the same command; delete the backup folder to start again.")
