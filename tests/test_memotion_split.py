"""The Memotion split: the stratified hold-out and the quick profile's
training subsample (`train_subsample`)."""

import numpy as np
import pytest

from memotion_tf.config import ConfigError, ExperimentConfig
from memotion_tf.papers import get_paper
from memotion_tf.papers.memotion import prepare_data
from tests import fixtures


def test_train_subsample_is_stratified_and_leaves_validation_whole():
    data_dir = fixtures.memotion_dir()
    whole = prepare_data(ExperimentConfig(), data_dir, synthetic=True, progress=False)
    part = prepare_data(ExperimentConfig(train_subsample=120), data_dir, synthetic=True, progress=False)
    (train_all, val_all), (train, val) = whole.folds[0], part.folds[0]
    np.testing.assert_array_equal(val, val_all)
    assert len(train) == 120 and set(train) <= set(train_all)
    labels = whole.frame["label"].to_numpy()
    shares_all = np.bincount(labels[train_all], minlength=3) / len(train_all)
    shares = np.bincount(labels[train], minlength=3) / len(train)
    np.testing.assert_allclose(shares, shares_all, atol=1 / 120 + 1e-9)
    again = prepare_data(ExperimentConfig(train_subsample=120), data_dir, synthetic=True, progress=False)
    np.testing.assert_array_equal(again.folds[0][0], train)


def test_train_subsample_at_or_over_the_split_keeps_it_all():
    data_dir = fixtures.memotion_dir()
    whole = prepare_data(ExperimentConfig(), data_dir, synthetic=True, progress=False)
    big = prepare_data(ExperimentConfig(train_subsample=10**6), data_dir, synthetic=True, progress=False)
    np.testing.assert_array_equal(big.folds[0][0], whole.folds[0][0])


def test_train_subsample_below_the_classes_is_a_config_error_not_a_traceback():
    # A stratified subsample of 2 memes cannot hold one of each of 3 classes (sklearn's own ValueError before).
    with pytest.raises(ConfigError, match="train_subsample = 2 is below the 3 classes"):
        prepare_data(ExperimentConfig(train_subsample=2), fixtures.memotion_dir(), synthetic=True, progress=False)


def test_subsample_keeps_a_class_of_one_meme_where_sklearn_cannot_stratify():
    from memotion_tf.papers.memotion import subsample_indices

    index = np.arange(10, 22)
    labels = np.array([0] + [1] * 6 + [2] * 5)  # class 0 has one meme: sklearn's stratified split refuses
    kept = subsample_indices(index, labels, 4, seed=0)
    assert len(kept) == 4 and set(kept) <= set(index) and list(kept) == sorted(kept)
    # Shares 0.33 / 2.0 / 1.67 of 4: floors 0 / 2 / 1, the single meme raised to one: 1 / 2 / 1.
    assert np.bincount(labels[kept - 10], minlength=3).tolist() == [1, 2, 1]
    np.testing.assert_array_equal(subsample_indices(index, labels, 4, seed=0), kept)
    # Shares 0.25 / 0.25 / 2.5 of 3: the two single memes, and the one left to the large class.
    labels = np.array([0, 1] + [2] * 10)
    assert np.bincount(labels[subsample_indices(index, labels, 3, seed=1) - 10], minlength=3).tolist() == [1, 1, 1]
    # 5 of 12 with shares 0.42 / 2.5 / 2.08: floors 1 / 2 / 2, nothing left over.
    labels = np.array([0] + [1] * 6 + [2] * 5)
    assert np.bincount(labels[subsample_indices(index, labels, 5, seed=1) - 10], minlength=3).tolist() == [1, 2, 2]


def test_negative_train_subsample_is_a_config_error():
    with pytest.raises(ConfigError, match="train_subsample"):
        get_paper("cnhit").load_configs("quick", ["train_subsample=-1"])


def test_results_md_names_the_split_the_rows_trained_on():
    from memotion_tf.evaluation.report import results_markdown

    paper = get_paper("cnhit")
    results = {"synthetic": False, "dataset": "memotion7k", "task": "A", "profile": "quick", "rows": [],
               "baselines": [], "data": {"train": 1600, "val": 1399, "folds": 1}}
    markdown = results_markdown(results, paper)
    assert "Split: 1,600 training / 1,399 validation memes." in markdown
    assert "Split:" not in results_markdown(dict(results, data={}), paper)
