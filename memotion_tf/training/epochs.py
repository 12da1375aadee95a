"""The epoch being trained, where the input pipeline can read it.

`tf.data`'s own per-epoch randomness (`shuffle(..., reshuffle_each_iteration=True)`,
`Dataset.random(rerandomize_each_iteration=True)`) draws each epoch's order
from a generator that advances every time the dataset is iterated. A run
resumed at epoch k from a backup starts that generator afresh, so it trains
epoch k on epoch 0's order and augmentation, and ends elsewhere than a run
that was never interrupted. `EpochCounter` puts the epoch number in a
variable before each epoch's data is read; `input_pipeline.meme_dataset` and
`token_dataset` derive the epoch's order and augmentation seeds from
(seed, epoch) through it, so epoch k's batches are the same whether or not the
run was interrupted before it.
"""

import keras
import tensorflow as tf


class EpochCounter(keras.callbacks.Callback):
    """Keeps `epoch` (an int64 `tf.Variable`) at the number of the epoch being trained.

    `Model.fit` (and `training.loop.train_loop`) call `on_epoch_begin(epoch)`,
    with the epoch counted from the start of the run also after a resume,
    before they iterate the training data for that epoch; a dataset that reads
    `epoch` when an iteration starts sees that number.

    Create it outside any `tf.distribute` strategy scope: the variable belongs
    to the input pipeline (on this host's CPU), not to the model.

    Example:
    >>> counter = EpochCounter()
    >>> ds = meme_dataset(frame, ..., shuffle_seed=0, epoch=counter.epoch)
    >>> model.fit(ds, epochs=3, callbacks=[counter, keras.callbacks.BackupAndRestore(path)])
    """

    def __init__(self):
        super().__init__()
        with tf.device("/CPU:0"):
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)
