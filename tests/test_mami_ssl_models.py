"""CROM-AE, RAW-N-COOK, their training on features, StepLR and the MAMI metrics."""

import os

import keras
import numpy as np
import pytest

from memotion_tf.evaluation.multilabel import mami_weighted_f1, multilabel_metrics, weighted_auc
from memotion_tf.models.crom_ae import CROMAE, RawNCook
from memotion_tf.papers import get_paper, mami_ssl
from memotion_tf.training.strategy import get_strategy

LABELS = ("shaming", "stereotype", "objectification", "violence")


def feature_data(n=500, seed=0, image_dim=16, text_dim=12):
    """SSLData-like features: both modalities are noisy linear views of a
    4-d latent z, and label j is z_j > 0.8 (about 21% positives each)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    image = z @ rng.normal(size=(4, image_dim)) + 0.1 * rng.normal(size=(n, image_dim))
    text = z @ rng.normal(size=(4, text_dim)) + 0.1 * rng.normal(size=(n, text_dim))
    index = rng.permutation(n)
    n_val = n // 5
    return mami_ssl.SSLData(
        train_frame=None, test_frame=None, label_names=LABELS,
        labels=(z > 0.8).astype("float32"), test_labels=None,
        train_index=np.sort(index[n_val:]), val_index=np.sort(index[:n_val]),
        features={"train": {"image_features": image.astype("float32"), "text_features": text.astype("float32")}},
        feature_digests={"train": "test"}, cache_hits={}, extractor=None, vectorizer=None, image_size=16,
        clip_spec={}, data_dir="", synthetic=True, skip_reports={},
    )


def load_configs(profile="quick", overrides=()):
    return get_paper("mami-ssl").load_configs(profile, overrides)


def row_config(system="Ours", extra=()):
    overrides = ["batch_size=20", "protocol.crom_ae={'latent_dim': 8}", *extra]
    return next(c for c in load_configs("quick", overrides) if c.system == system)


# --- Shapes, pinned parameter counts, serialisation ------------------------------------


def test_parameter_counts_are_pinned():
    # CROM-AE: image Dense 8->4 (36), PReLU (4), Dense 4->6 (30); text Dense 6->4 (28), PReLU (4), Dense 4->8 (40).
    assert CROMAE(image_dim=8, text_dim=6, latent_dim=4).count_params() == 142
    # RAW-N-COOK: encoders 36 + 28; [8 + 6 + 4 + 4 = 22] -> Dense 5 (115) -> PReLU (5) -> Dense 4 (24).
    assert RawNCook(8, 6, 4, latent_dim=4, hidden_units=5).count_params() == 208
    assert RawNCook(8, 6, 4, latent_dim=4, hidden_units=5, use_encoders=False).count_params() == 104
    assert RawNCook(8, 6, 4, use_encoders=False, hidden_units=0).count_params() == 14 * 4 + 4  # logistic


@pytest.mark.parametrize("model", [
    lambda: CROMAE(image_dim=8, text_dim=6, latent_dim=4),
    lambda: RawNCook(8, 6, 4, latent_dim=4, hidden_units=5, train_encoders=False),
])
def test_config_round_trip_and_keras_save(model, tmp_path):
    model = model()
    x = {"image_features": np.random.default_rng(0).normal(size=(3, 8)).astype("float32"),
         "text_features": np.random.default_rng(1).normal(size=(3, 6)).astype("float32")}
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config() and clone.count_params() == model.count_params()
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    expected, got = model(x), restored(x)
    for a, b in zip(keras.tree.flatten(expected), keras.tree.flatten(got)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_raw_n_cook_starts_from_the_crom_ae_encoders():
    ae = CROMAE(image_dim=8, text_dim=6, latent_dim=4)
    head = RawNCook(8, 6, 4, latent_dim=4, hidden_units=5)
    head.load_encoders(ae)
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    t = np.random.default_rng(1).normal(size=(3, 6)).astype("float32")
    z_image, z_text = ae.encode(x, t)
    np.testing.assert_allclose(head.image_encoder(x), z_image, atol=1e-6)
    np.testing.assert_allclose(head.text_encoder(t), z_text, atol=1e-6)
    assert not RawNCook(8, 6, 4, latent_dim=4, train_encoders=False).image_encoder.trainable
    with pytest.raises(ValueError, match="use_encoders=False"):
        RawNCook(8, 6, 4, use_encoders=False).load_encoders(ae)


# --- Training on features ------------------------------------------------------------


def test_crom_ae_lowers_the_reconstruction_error_of_correlated_features():
    data = feature_data()
    config = row_config(extra=["epochs=30", "learning_rate=0.01"])
    val = data.inputs("train", data.val_index)
    untrained = CROMAE(16, 12, latent_dim=8)
    before = untrained(val)
    mse_before = float(np.mean((before["text_from_image"] - val["text_features"]) ** 2))
    model, history = mami_ssl.train_crom_ae(config, data, seed=0, strategy=get_strategy())
    after = model(val)
    mse_after = float(np.mean((after["text_from_image"] - val["text_features"]) ** 2))
    # Both autoencoders improve every few epochs and end far below predicting the mean.
    for key in ("val_text_from_image_loss", "val_image_from_text_loss"):
        assert history[key][-1] < 0.5 * history[key][0]
    assert mse_after < 0.5 * mse_before
    assert mse_after < 0.5 * float(val["text_features"].var(axis=0).mean())
    assert history["val_text_from_image_loss"][-1] == pytest.approx(mse_after, rel=1e-3)


def test_crom_ae_sees_unlabelled_rows_but_raw_n_cook_only_labelled_ones():
    """Poison every training row outside the labelled subset (NaN features):
    CROM-AE, trained on all training memes, turns NaN; RAW-N-COOK,
    trained on the labelled subset only, stays finite."""
    data = feature_data()
    ratio, seed = 0.1, 0
    labelled = mami_ssl.labelled_rows(data, ratio, seed)
    assert len(labelled) == round(ratio * len(data.train_index))
    assert set(labelled) <= set(data.train_index) and not set(labelled) & set(data.val_index)
    unlabelled = np.setdiff1d(data.train_index, labelled)
    poisoned = feature_data()
    for array in poisoned.features["train"].values():
        array[unlabelled] = np.nan

    config = row_config(extra=["epochs=2"])
    _, ae_history = mami_ssl.train_crom_ae(config, poisoned, seed=seed, strategy=get_strategy())
    assert np.isnan(ae_history["loss"][-1])

    clean_ae, _ = mami_ssl.train_crom_ae(config, data, seed=seed, strategy=get_strategy())
    model, history, used = mami_ssl.train_classifier(config, poisoned, ratio, seed, get_strategy(),
                                                     crom_ae=clean_ae)
    np.testing.assert_array_equal(used, labelled)
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("system", ["Ours", "w/o DB loss + CROM-AE encoders"])
def test_classifier_learns_the_synthetic_labels(system):
    data = feature_data(n=600, seed=1)
    config = row_config(system, extra=["epochs=30", "learning_rate=0.003"])
    crom_ae = None
    if config.model_args.get("use_encoders", True):
        crom_ae, _ = mami_ssl.train_crom_ae(config.replace(epochs=10), data, 0, get_strategy())
    model, _, _ = mami_ssl.train_classifier(config, data, 0.3, 0, get_strategy(), crom_ae=crom_ae)
    probabilities = mami_ssl.predict_probabilities(model, data.inputs("train", data.val_index))
    metrics = multilabel_metrics(data.labels[data.val_index], probabilities)
    assert metrics["auc"] > 0.85
    assert metrics["weighted_f1"] > 0.6  # chance (all negative) is about 0.44


def test_training_under_mirrored_strategy_over_two_logical_cpus():
    import tensorflow as tf

    strategy = get_strategy(logical_cpus=2)
    assert strategy.num_replicas_in_sync == 2
    data = feature_data(n=200)
    config = row_config("w/o CROM-AE encoders", extra=["epochs=2"])
    model, history, _ = mami_ssl.train_classifier(config, data, 0.3, 0, strategy)
    assert isinstance(model.trainable_variables[0].value, tf.distribute.DistributedValues)
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()


# --- Loss and learning-rate schedule -----------------------------------------------------


def test_step_lr_decays_once_per_epoch_by_the_ratio_gamma():
    config = row_config()
    schedule = mami_ssl.step_lr(config, 0.1, steps_per_epoch=12)
    for step, epochs in ((0, 0), (11, 0), (12, 1), (35, 2), (36, 3), (599, 49)):
        assert float(schedule(step)) == pytest.approx(1e-4 * 0.9**epochs, rel=1e-5)
    assert float(mami_ssl.step_lr(config, 0.05, 12)(24)) == pytest.approx(1e-4 * 0.93**2, rel=1e-5)
    assert float(mami_ssl.step_lr(config, 0.3, 12)(24)) == pytest.approx(1e-4 * 0.85**2, rel=1e-5)
    assert mami_ssl.step_lr(config.replace(lr_schedule="constant"), 0.3, 12) == 1e-4


def test_losses_of_the_rows():
    from memotion_tf.losses.distribution_balanced import DistributionBalancedLoss

    labels = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]], dtype="float32")
    loss = mami_ssl.make_loss(row_config("Ours"), labels)
    assert isinstance(loss, DistributionBalancedLoss)
    # n_i counted on the labelled rows; an absent class counts once.
    assert loss.class_counts == [2.0, 2.0, 1.0, 1.0] and loss.num_examples == 4
    assert (loss.alpha, loss.beta, loss.mu, loss.lambda_, loss.kappa, loss.gamma) == (0.1, 10, 0.2, 2, 0.05, 2)
    bce = mami_ssl.make_loss(row_config("w/o DB loss"), labels)
    assert isinstance(bce, keras.losses.BinaryCrossentropy)


# --- Metrics by hand ---------------------------------------------------------------------


def test_mami_weighted_f1_by_hand():
    y_true = np.array([[1, 0], [1, 1], [0, 0], [0, 0]])
    y_pred = np.array([[1, 0], [0, 0], [0, 0], [0, 0]])
    # label 0: F1(1) = 2/3 (TP 1, FN 1), F1(0) = 4/5 (TP 2, FP 1) -> macro 11/15; support 2
    # label 1: F1(1) = 0, F1(0) = 6/7 (TP 3, FP 1) -> macro 3/7; support 1
    expected = (2 * 11 / 15 + 1 * 3 / 7) / 3
    assert mami_weighted_f1(y_true, y_pred) == pytest.approx(expected)
    # One label: its macro F1, the subtask A score.
    assert mami_weighted_f1(y_true[:, 0], y_pred[:, 0]) == pytest.approx(11 / 15)


def test_weighted_auc_by_hand():
    y_true = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.2, 0.5], [0.4, 0.7, 0.5], [0.5, 0.1, 0.5], [0.1, 0.8, 0.5]])
    # label 0: positives {0.9, 0.4} vs negatives {0.5, 0.1}: 3 of 4 pairs ordered -> 0.75 (support 2)
    # label 1: positive 0.7 vs negatives {0.2, 0.1, 0.8}: 2 of 3 -> 2/3 (support 1)
    # label 2: no positive, no ROC curve: left out
    assert weighted_auc(y_true, scores) == pytest.approx((2 * 0.75 + 2 / 3) / 3)
    assert np.isnan(weighted_auc(np.zeros((3, 1)), np.ones((3, 1))))


def test_configs_load_for_both_profiles():
    quick = load_configs("quick")
    paper = load_configs("paper")
    assert [c.system for c in quick] == ["Ours", "w/o CROM-AE encoders", "w/o DB loss",
                                         "w/o DB loss + CROM-AE encoders", "Supervised CLIP features (linear)"]
    assert {c.preset for c in paper} == {"clip_vit_large_patch14"} and {c.preset for c in quick} == {""}
    for c in paper:
        assert (c.epochs, c.batch_size, c.task) == (50, 40, "B")
        assert c.protocol["step_gamma"] == {"0.3": 0.85, "0.1": 0.9, "0.05": 0.93}
        assert c.protocol["export_ratios"] == [0.3]
    assert {(c.learning_rate, c.lr_schedule) for c in paper[:4]} == {(1e-4, "step")}  # Table 2
    assert (paper[4].learning_rate, paper[4].lr_schedule) == (1e-3, "constant")  # our linear probe
    ours = quick[0]
    assert ours.paper_metrics["0.05"] == {"test_weighted_f1": 0.6792, "test_auc": 0.7989}
    assert quick[3].paper_metrics == {"0.3": {"test_weighted_f1": 0.7074}}


def test_bad_config_names_the_file(tmp_path):
    from memotion_tf import paths, runner
    from memotion_tf.config import ConfigError, load_config

    paper = get_paper("mami-ssl")
    bad = tmp_path / "bad.toml"
    base = paths.config_path("mami_ssl/ours.toml")
    bad.write_text(f'base = "{base}"\n[protocol]\nratio = 0.3\n')
    with pytest.raises(ConfigError, match=r"bad.toml.*unknown protocol key.*ratio.*did you mean 'ratios'"):
        paper.check_config(load_config(str(bad)))
    bad.write_text(f'base = "{base}"\n[model_args]\nhiden_units = 8\n')
    with pytest.raises(ConfigError, match=r"bad.toml.*unknown model_args key.*did you mean 'hidden_units'"):
        paper.check_config(load_config(str(bad)))
    bad.write_text(f'base = "{base}"\n[protocol.crom_ae]\nlatent = 8\n')
    with pytest.raises(ConfigError, match=r"bad.toml.*unknown protocol.crom_ae key.*did you mean 'latent_dim'"):
        paper.check_config(load_config(str(bad)))
    with pytest.raises(ConfigError, match="unknown system"):
        runner.reproduce("mami-ssl", systems=["Ours+"], out=str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out")  # refused before anything was written
