"""A training backup that a kill cannot leave half-written.

`keras.callbacks.BackupAndRestore` writes `latest.weights.h5` and then
`training_metadata.json` in place. A kill during the first write leaves a
truncated HDF5 file that stops the next run in `on_train_begin`; a kill between
the two leaves new weights beside the previous epoch counter, so an epoch is
trained twice. `AtomicBackupAndRestore` writes both into a temporary folder
that replaces `<backup_dir>/state` in one step (`io.atomic_directory`), so the
state read on resume is always one whole epoch's.

It also saves what `save_weights` leaves out: the state of every random seed
generator of the model (dropout masks, in-model augmentation). A resumed run
then draws the same random numbers as an uninterrupted one from the next
epoch on; with the data order derived from (seed, epoch) (see
`input_pipeline.meme_dataset`), a run killed at any epoch and resumed ends with
the same weights as one that was never interrupted.
"""

import json
import os

import keras

from memotion_tf.io import atomic_directory

STATE_DIR = "state"
WEIGHTS_FILE = "latest.weights.h5"
METADATA_FILE = "training_metadata.json"
SEEDS_FILE = "seed_generators.json"


def seed_generator_variables(model):
    """The state variables of the model's random seed generators (dropout, in-model augmentation)."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


def seed_generator_states(model):
    """The states of the model's random seed generators (not among its weights),
    in the model's variable order, with their paths (for the reader only).

    Restored by position, as `save_weights` restores weights: the paths carry
    Keras' process-wide name counters (`seed_generator_1` in one process is
    `seed_generator` in the next), so they do not identify a variable."""
    variables = seed_generator_variables(model)
    return {"paths": [v.path for v in variables], "states": [v.numpy().tolist() for v in variables]}


def restore_seed_generator_states(model, saved, source):
    """Assign `seed_generator_states`' `saved` to `model`'s generators; `source` names the file in errors."""
    variables = seed_generator_variables(model)
    # Backups written before the states were saved as a list hold {path: state}, in the same order.
    states = saved["states"] if "states" in saved else list(saved.values())
    if len(states) != len(variables):
        raise ValueError(f"{source}: {len(states)} seed generator states saved, the model has "
                         f"{len(variables)}; the backup was made for another model (delete it to start again)")
    for variable, state in zip(variables, states):
        variable.assign(state)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` with an atomic save.

    Args:
        backup_dir: folder for the backup; the state lives in `backup_dir/state`.
        save_freq: "epoch" or a number of batches, as in Keras.
        delete_checkpoint: remove `backup_dir` when training finishes.

    Keras' `double_checkpoint` (a copy of the previous state, for a corrupted
    current one) is not needed: the current state is never partial.

    Example:
    >>> model.fit(ds, epochs=5, callbacks=[AtomicBackupAndRestore("runs/x/backup")])
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__(backup_dir, save_freq=save_freq, double_checkpoint=False,
                         delete_checkpoint=delete_checkpoint)
        self.state_dir = os.path.join(backup_dir, STATE_DIR)
        # Keras' `_load_model` reads these two paths.
        self._weights_path = os.path.join(self.state_dir, WEIGHTS_FILE)
        self._training_metadata_path = os.path.join(self.state_dir, METADATA_FILE)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        path = os.path.join(self.state_dir, SEEDS_FILE)
        if os.path.exists(self._weights_path) and os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            restore_seed_generator_states(self.model, saved, path)

    def _save_model(self):
        with atomic_directory(self.state_dir) as tmp:
            self.model.save_weights(os.path.join(tmp, WEIGHTS_FILE), overwrite=True)
            with open(os.path.join(tmp, METADATA_FILE), "w") as f:
                json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
            with open(os.path.join(tmp, SEEDS_FILE), "w") as f:
                json.dump(seed_generator_states(self.model), f)
