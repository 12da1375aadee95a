"""The CN-HIT-MI.T reproduction end to end on tiny settings: all seven Table 2
rows train, export and are scored from their SavedModels; folds; two views;
RandAugment inside the training pipeline."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from memotion_tf import cli
from memotion_tf.papers import get_paper
from memotion_tf.papers.memotion import fold_indices
from memotion_tf.runner import reproduce
from memotion_tf.input_pipeline import meme_dataset
from memotion_tf.preprocessing.randaugment import rand_augment
from tests import fixtures

# A tiny random BERT (empty preset), 32 px images, a ResNet-50, one epoch on fold 0.
TINY = ["preset=", "epochs=1", "batch_size=32", "image_size=32", "max_length=16",
        "model_args.depth=50", "backbone_args={'num_layers': 1, 'hidden_dim': 16, 'intermediate_dim': 32}"]
TABLE_2 = ["HFM", "TFNet", "TFNet+TSA", "ResNet", "BERT", "ResNet+TSA+RA", "BERT+TSA+KL"]


# One row per model class, loss and augmentation: HFM (hfm), TFNet+TSA (tfn, TSA),
# ResNet+TSA+RA (resnet_classifier, TSA, RandAugment), BERT+TSA+KL (bert_classifier,
# two views, TSA + KL). The plain-cross-entropy rows differ only in the loss and run in
# the `large` test below.
ROWS = ["HFM", "TFNet+TSA", "ResNet+TSA+RA", "BERT+TSA+KL"]


def data_dir():
    return fixtures.memotion_dir(size=200)


@pytest.fixture(scope="module")
def cnhit_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "cnhit")
    results = reproduce("cnhit", data_dir=data_dir(), out=out, seeds=1, systems=ROWS, overrides=TINY, verbose=0)
    with open(os.path.join(out, "results.md")) as f:
        markdown = f.read()
    return out, results, markdown


def test_rows_follow_the_contract_in_the_papers_order(cnhit_run):
    out, results, markdown = cnhit_run
    assert json.load(open(os.path.join(out, "results.json"))) == results
    assert results["paper"] == "cnhit" and results["task"] == "A"
    assert [r["system"] for r in results["rows"]] == ROWS
    for row in results["rows"]:
        assert row["folds"] == [0]
        assert set(row["metrics"]) == {"macro_f1", "accuracy"}
        assert {"dev_macro_f1", "test_macro_f1"} <= set(row["paper"])
        folder = os.path.join(out, os.path.dirname(row["saved_model"]))
        assert os.path.getsize(os.path.join(folder, "confusion_matrix.png")) > 1000
        assert os.path.getsize(os.path.join(folder, "training_curves.png")) > 1000
    line = next(l for l in markdown.splitlines() if l.startswith("| BERT+TSA+KL"))
    assert "0.375" in line and "0.346" in line
    # Sections 4.1 and 5: one fixed 4:1 split, several seeds.
    assert results["data"]["folds"] == 1
    assert abs(results["data"]["train"] / results["data"]["val"] - 4) < 0.1


@pytest.mark.large
def test_all_seven_table_2_rows(tmp_path):
    results = reproduce("cnhit", data_dir=data_dir(), out=str(tmp_path), seeds=1, overrides=TINY, verbose=0)
    assert [r["system"] for r in results["rows"]] == TABLE_2


def test_every_saved_model_reproduces_its_runs_metrics(cnhit_run):
    """Raw text and image bytes through each SavedModel give the metrics the
    run computed in memory on the same dev fold."""
    out, results, _ = cnhit_run
    for row in results["rows"]:
        saved = os.path.join(out, row["saved_model"])
        record = json.load(open(os.path.join(os.path.dirname(saved), "runs", "seed_0.json")))
        report = cli._cmd_evaluate(type("Args", (), {
            "saved_model": saved, "data_dir": data_dir(), "split": "val",
            "batch_size": 64, "output": None})())
        assert report["examples"] == len(record["val_predictions"]), row["system"]
        assert report["metrics"]["accuracy"] == pytest.approx(record["metrics"]["accuracy"], abs=1e-9), row["system"]


def test_two_view_and_tsa_rows_record_their_training_curves(cnhit_run):
    out, results, _ = cnhit_run
    for system in ("BERT+TSA+KL", "ResNet+TSA+RA", "TFNet+TSA"):
        row = next(r for r in results["rows"] if r["system"] == system)
        record = json.load(open(os.path.join(out, os.path.dirname(row["saved_model"]), "runs", "seed_0.json")))
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "macro_f1", "val_macro_f1"} <= set(record["history"])
        assert np.isfinite(record["history"]["loss"]).all()


def test_five_folds_are_stratified_and_cover_every_meme():
    labels = fixtures.memotion_data().frame["label"].to_numpy()
    folds = fold_indices(labels, 5, split_seed=0)
    assert len(folds) == 5
    dev = np.concatenate([v for _, v in folds])
    assert sorted(dev.tolist()) == list(range(len(labels)))  # each meme is dev exactly once
    for train, val in folds:
        assert not set(train) & set(val)
        assert abs(len(train) / len(val) - 4) < 0.1  # 4:1
        share = np.bincount(labels[val], minlength=3) / len(val)
        np.testing.assert_allclose(share, np.bincount(labels, minlength=3) / len(labels), atol=0.02)


def test_paper_registry_lists_the_cnhit_configs():
    assert len(get_paper("cnhit").config_files) == 7


def test_randaugment_inside_the_training_pipeline_is_per_image_and_per_epoch():
    frame = fixtures.memotion_data().split("val")
    same = frame.iloc[[0] * 4].reset_index(drop=True)  # four copies of one meme
    ds = meme_dataset(same, modalities=("image",), batch_size=4, num_classes=3, image_size=32,
                      augment=lambda images, seed: rand_augment(images, seed, num_ops=14, magnitude=11),
                      augment_seed=3)
    first = next(iter(ds))[0]["image"].numpy()
    second = next(iter(ds))[0]["image"].numpy()
    assert first.min() >= 0.0 and first.max() <= 1.0
    # Copies of one image get different operations within a batch, and again next epoch.
    assert len({a.tobytes() for a in first}) == 4
    assert not np.allclose(first, second)
    plain = next(iter(meme_dataset(same, modalities=("image",), batch_size=4, num_classes=3,
                                   image_size=32)))[0]["image"].numpy()
    assert np.allclose(plain[0], plain[1]) and not np.allclose(first[0], plain[0])


def test_raw_text_column_adds_a_second_view():
    from memotion_tf.models.pretrained import text_preprocessor

    frame = fixtures.memotion_data().split("val").head(3).copy()
    frame["text_raw"] = frame["text"] + " imgflip.com"
    ds = meme_dataset(frame, modalities=("text",), batch_size=3, num_classes=3,
                      vectorizer=text_preprocessor("", sequence_length=24), raw_text_column="text_raw")
    features, _ = next(iter(ds))
    assert {"token_ids", "padding_mask", "segment_ids", "raw_token_ids", "raw_padding_mask",
            "raw_segment_ids"} == set(features)
    lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), -1)
    raw_lengths = tf.reduce_sum(tf.cast(features["raw_padding_mask"], tf.int32), -1)
    assert bool(tf.reduce_all(raw_lengths > lengths))


def test_fusion_rows_fine_tune_the_pretrained_encoder_at_the_text_rows_rate():
    """Quick profile: TFNet's pretrained MiniLM gets 5e-5 (BERT's rate), its ResNet from scratch 1e-3."""
    from memotion_tf import config as config_lib
    from memotion_tf.models import MODELS
    from memotion_tf.papers.memotion import make_model, pretrained_variables, text_preprocessing

    config = config_lib.load_config(get_paper("cnhit").config_paths()[1], "quick", ["image_size=32"])
    assert config.system == "TFNet" and config.preset == "all_minilm_l6_v2"
    model = make_model(config, 3, text_preprocessing(config, MODELS[config.model], ["a meme"]))
    pretrained = pretrained_variables(config, model)
    assert pretrained and len(pretrained) < len(model.trainable_variables)
    assert {v.path for v in pretrained} == {v.path for v in model.backbone.trainable_variables}
    # A text-only row is all pretrained: one rate, nothing to scale.
    bert = config_lib.load_config(get_paper("cnhit").config_paths()[4], "quick")
    assert pretrained_variables(bert, make_model(bert, 3, text_preprocessing(bert, MODELS[bert.model], ["x"]))) == []
