"""A training backup that a kill cannot leave half-written.

`keras.callbacks.BackupAndRestore` writes `latest.weights.h5` and then
`training_metadata.json` in place. A kill during the first write leaves a
truncated HDF5 file that stops the next run in `on_train_begin`; a kill between
the two leaves new weights beside the previous epoch counter, so an epoch is
trained twice. `AtomicBackupAndRestore` writes both into a temporary folder
that replaces `<backup_dir>/state` in one step (`io.atomic_directory`), so the
state read on resume is always one whole epoch's.
"""

import json
import os

import keras

from memotion_tf.io import atomic_directory

STATE_DIR = "state"
WEIGHTS_FILE = "latest.weights.h5"
METADATA_FILE = "training_metadata.json"


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

    def _save_model(self):
        with atomic_directory(self.state_dir) as tmp:
            self.model.save_weights(os.path.join(tmp, WEIGHTS_FILE), overwrite=True)
            with open(os.path.join(tmp, METADATA_FILE), "w") as f:
                json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
