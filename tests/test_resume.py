"""A run killed at an epoch boundary and resumed from its backup ends where an
uninterrupted run does: same weights, same validation metrics, same
predictions. The rows train through the real `papers.memotion.train_once`
with every source of randomness on: rows shuffled each epoch, dropout, and
(second case) RandAugment on the images."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from memotion_tf import config as config_lib
from memotion_tf.input_pipeline import epoch_batches, token_dataset
from memotion_tf.papers import get_paper
from memotion_tf.papers.memotion import train_once
from memotion_tf.training.backup import AtomicBackupAndRestore
from memotion_tf.training.epochs import EpochCounter
from tests import fixtures
from tests.test_training_loop import StopAt  # a kill at the start of an epoch

# Tiny UoR rows: ~190 training memes in batches of 32 (6 steps an epoch), 3 epochs.
SMALL = {"batch_size": 32, "image_size": 32, "max_length": 16, "epochs": 3}


def _row(system, **changes):
    configs = [config_lib.load_config(p, "quick") for p in get_paper("uor").config_paths()]
    return next(c for c in configs if c.system == system).replace(**dict(SMALL, **changes))


def _train(config, data, callbacks=()):
    history = keras.callbacks.History()
    model, _, probabilities = train_once(config, data, seed=3, strategy=tf.distribute.get_strategy(),
                                         callbacks=[*callbacks, history], verbose=0)
    return model, probabilities, history


def _check_resume_equals_uninterrupted(config, tmp_path):
    data = fixtures.memotion_data(size=240)
    whole, whole_probabilities, whole_history = _train(config, data)

    backup = str(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        _train(config, data, [AtomicBackupAndRestore(backup, delete_checkpoint=False), StopAt(2)])
    resumed, probabilities, history = _train(config, data, [AtomicBackupAndRestore(backup)])

    assert history.epoch == [2]  # it did resume: only the last epoch was trained again
    assert len(whole.weights) == len(resumed.weights)
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a),
                                   rtol=1e-5, atol=1e-6, err_msg=a.path)
    for key in ("loss", "val_loss", "val_accuracy", "val_macro_f1"):
        np.testing.assert_allclose(history.history[key][-1], whole_history.history[key][-1], rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    np.testing.assert_allclose(probabilities, whole_probabilities, rtol=1e-5, atol=1e-6)


def test_a_shuffled_row_with_dropout_killed_and_resumed_ends_as_an_uninterrupted_one(tmp_path):
    config = _row("Conv1D-T")
    assert config.model_args["dropout"] > 0
    _check_resume_equals_uninterrupted(config, tmp_path)


def test_an_image_row_with_randaugment_killed_and_resumed_ends_as_an_uninterrupted_one(tmp_path):
    config = _row("CNN-I", augment="randaugment", augment_args={"num_ops": 2, "magnitude": 9},
                  model_args={"filters": [4, 8, 8], "dense_units": 8, "dropout": 0.5})
    _check_resume_equals_uninterrupted(config, tmp_path)


def _orders(ds, counter, epochs):
    """The row order (first text of each row) of each epoch, as fit reads them."""
    out = []
    for epoch in epochs:
        counter.on_epoch_begin(epoch)
        out.append([int(i) for x, y in ds for i in x["token_ids"][:, 0].numpy()])
    return out


def test_the_order_is_a_function_of_seed_and_epoch_and_differs_between_them():
    rows = 40
    token_ids = np.arange(rows, dtype="int32")[:, None]
    labels = np.arange(rows) % 3

    def dataset(seed, counter):
        return token_dataset(token_ids, labels, num_classes=3, batch_size=8, shuffle_seed=seed, epoch=counter.epoch)

    counter = EpochCounter()
    ds = dataset(0, counter)
    assert int(ds.cardinality()) == 5
    epoch_0, epoch_1, epoch_2 = _orders(ds, counter, [0, 1, 2])
    assert sorted(epoch_0) == list(range(rows))  # every row once an epoch
    assert epoch_0 != epoch_1 != epoch_2 != epoch_0 and epoch_0 != list(range(rows))
    # A fresh dataset (a resumed run) at epoch 2 reads epoch 2's order, not epoch 0's.
    fresh = EpochCounter()
    assert _orders(dataset(0, fresh), fresh, [2, 0]) == [epoch_2, epoch_0]
    # Another seed, another order.
    other = EpochCounter()
    assert _orders(dataset(1, other), other, [0]) != [epoch_0]


def test_augmentation_seeds_are_a_function_of_seed_epoch_and_batch():
    def seeds(augment_seed, epoch):
        counter = EpochCounter()
        counter.on_epoch_begin(epoch)
        batches = epoch_batches(10, 4, counter.epoch, augment_seed=augment_seed)
        assert [rows.numpy().tolist() for rows, _ in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
        return [seed.numpy().tolist() for _, seed in batches]

    first = seeds(0, 1)
    assert len({tuple(s) for s in first}) == 3  # one per batch, all different
    assert seeds(0, 1) == first
    assert seeds(0, 2) != first and seeds(5, 1) != first


def test_the_custom_loop_resumes_a_shuffled_run_with_dropout_as_an_uninterrupted_one(tmp_path):
    """`training.loop.train_loop` (the multi-worker loop, run here on one
    machine) with its `WorkerBackup`: the dropout seed states are in the
    checkpoint, the order comes from (seed, epoch)."""
    from memotion_tf.training.loop import train_loop

    rng = np.random.default_rng(0)
    token_ids = rng.integers(1, 50, size=(60, 6)).astype("int32")
    labels = rng.integers(0, 3, 60)

    def run(callbacks=()):
        keras.utils.set_random_seed(0)
        tokens = keras.Input((6,), name="token_ids", dtype="int32")
        hidden = keras.layers.Dropout(0.5)(keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 8)(tokens)))
        model = keras.Model({"token_ids": tokens}, keras.layers.Dense(3, activation="softmax")(hidden))
        model.compile(keras.optimizers.Adam(0.05), "categorical_crossentropy")
        counter = EpochCounter()
        ds = token_dataset(token_ids, labels, num_classes=3, batch_size=16, shuffle_seed=0, epoch=counter.epoch)
        train_loop(model, ds, epochs=4, verbose=0, callbacks=[counter, *callbacks])
        return model

    whole = run()
    backup = str(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        run([keras.callbacks.BackupAndRestore(backup), StopAt(2)])
    resumed = run([keras.callbacks.BackupAndRestore(backup)])
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)


def test_epochs_of_a_fixed_number_of_random_batches_are_a_function_of_seed_and_epoch():
    """BiliMemeNet's baseline protocol: `steps` random mini-batches an epoch."""

    def epoch(number, seed=0, steps=3):
        counter = EpochCounter()
        counter.on_epoch_begin(number)
        batches = epoch_batches(10, 4, counter.epoch, shuffle_seed=seed, steps=steps)
        assert int(batches.cardinality()) == steps
        return [b.numpy().tolist() for b in batches]

    first = epoch(0)
    assert [len(b) for b in first] == [4, 4, 4]  # 12 rows from 2 shuffles of the 10
    assert sorted(sum(first, [])[:10]) == list(range(10))
    assert epoch(0) == first and epoch(1) != first and epoch(0, seed=1) != first


def test_randaugment_in_the_pipeline_is_per_image_and_a_function_of_the_epoch(tmp_path):
    import pandas as pd

    from memotion_tf.input_pipeline import meme_dataset
    from memotion_tf.preprocessing.randaugment import rand_augment

    path = str(tmp_path / "meme.png")
    pixels = np.random.default_rng(0).integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
    tf.io.write_file(path, tf.io.encode_png(pixels))
    same = pd.DataFrame({"text": ["a meme"] * 4, "image_path": [path] * 4, "label": [0] * 4})  # four copies
    counter = EpochCounter()
    ds = meme_dataset(same, modalities=("image",), batch_size=4, num_classes=3, image_size=32,
                      augment=lambda images, seed: rand_augment(images, seed, num_ops=14, magnitude=11),
                      augment_seed=3, epoch=counter.epoch)

    def images(epoch):
        counter.on_epoch_begin(epoch)
        return next(iter(ds))[0]["image"].numpy()

    first = images(0)
    assert len({a.tobytes() for a in first}) == 4  # copies of one image get different operations
    later = images(1)
    assert not np.allclose(first, later)
    np.testing.assert_array_equal(images(0), first)  # epoch 0 again (a resumed run): the same images


def test_seed_generator_states_are_restored_by_position_not_by_name(tmp_path):
    """Keras names seed generators with a process-wide counter, so the same
    model built again has other variable paths: the states go back by position;
    a backup of another model (another number of generators) is an error."""
    from memotion_tf.training.backup import restore_seed_generator_states, seed_generator_states

    def model(dropouts):
        inputs = keras.Input((4,))
        x = inputs
        for _ in range(dropouts):
            x = keras.layers.Dropout(0.5)(x)
        return keras.Model(inputs, x)

    first = model(2)
    for i, variable in enumerate(v for v in first.variables if "seed_generator_state" in v.path):
        variable.assign([7, 10 + i])
    saved = seed_generator_states(first)
    again = model(2)
    assert saved["paths"] != seed_generator_states(again)["paths"]
    restore_seed_generator_states(again, saved, "seeds.json")
    assert seed_generator_states(again)["states"] == [[7, 10], [7, 11]]
    old_format = dict(zip(saved["paths"], saved["states"]))  # backups written before this change
    restore_seed_generator_states(model(2), old_format, "seeds.json")
    with pytest.raises(ValueError, match="seeds.json: 2 seed generator states saved, the model has 1"):
        restore_seed_generator_states(model(1), saved, "seeds.json")
