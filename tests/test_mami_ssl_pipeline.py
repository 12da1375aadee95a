"""The semi-supervised MAMI reproduction end to end on a tiny synthetic set:
results.json / results.md as the contract says, plots, the feature cache and
CROM-AE reused on a second run, and SavedModels that serve raw text and image
bytes with the outputs of the in-memory models."""

import argparse
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from memotion_tf import cli
from memotion_tf.datasets.mami import TASK_B_LABELS, read_mami
from memotion_tf.reproductions import mami_ssl
from tests import mami_ssl_helpers as helpers

# Two rows that differ in every switch (encoders, loss), at two ratios; a SavedModel
# for each at ratio 0.3. The large test runs all 15 rows and exports each.
SYSTEMS = ["Ours", "w/o DB loss + CROM-AE encoders"]
FAST = helpers.TINY + ["protocol.ratios=[0.3, 0.1]", "protocol.export_ratios=[0.3]"]


@pytest.fixture(scope="module")
def ssl_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "mami_ssl")
    results, markdown = mami_ssl.reproduce(data_dir=helpers.mami_dir(), out_dir=out, seeds=2, overrides=FAST,
                                           systems=SYSTEMS, verbose=0)
    return out, results, markdown


def test_results_follow_the_contract(ssl_run):
    out, results, _ = ssl_run
    with open(os.path.join(out, "results.json")) as f:
        assert json.load(f) == results
    assert {k: results[k] for k in ("paper", "dataset", "task", "synthetic", "profile")} == {
        "paper": "mami-ssl", "dataset": "mami", "task": "B", "synthetic": False, "profile": "quick"}
    assert [(r["system"], r["ratio"]) for r in results["rows"]] == [
        (s, r) for s in SYSTEMS for r in (0.3, 0.1)]
    assert (results["train_examples"], results["val_examples"], results["test_examples"]) == (64, 16, 16)
    for row in results["rows"]:
        assert row["seeds"] == [0, 1] and row["config"].endswith(".toml")
        assert row["labelled"] == {0.3: 19, 0.1: 6}[row["ratio"]]
        assert set(row["metrics"]) == {"weighted_f1", "auc"}
        for summary in row["metrics"].values():
            assert len(summary["runs"]) == 2
            assert summary["min"] <= summary["mean"] <= summary["max"]
            assert summary["mean"] == pytest.approx(np.mean(summary["runs"]))
        folder = os.path.join(out, mami_ssl.row_dir_name(row["system"], row["ratio"]))
        for plot in ("roc_curves.png", "confusion_matrix.png", "training_curves.png"):
            assert os.path.getsize(os.path.join(folder, plot)) > 1000
        if row["ratio"] == 0.3:
            assert os.path.exists(os.path.join(row["saved_model"], "saved_model.pb"))
        else:
            assert row["saved_model"] is None
    ours = results["rows"][0]
    assert ours["paper"] == {"test_weighted_f1": 0.7433, "test_auc": 0.8310}
    assert results["rows"][1]["paper"] == {"test_weighted_f1": 0.7184, "test_auc": 0.8145}
    assert results["rows"][2]["paper"] == {"test_weighted_f1": 0.7074}  # Table 5, ratio 0.3 only
    assert results["rows"][3]["paper"] == {}
    assert results["paper_baselines"]["auc"]["0.05"]["CMML-CLIP"] == 0.7664
    assert os.path.getsize(os.path.join(out, "summary.png")) > 1000


def test_markdown_puts_ours_beside_the_paper(ssl_run):
    out, results, markdown = ssl_run
    with open(os.path.join(out, "results.md")) as f:
        assert f.read() == markdown
    line = next(l for l in markdown.splitlines() if l.startswith("| Ours | 0.3 |"))
    ours = results["rows"][0]["metrics"]["weighted_f1"]
    assert "0.7433" in line and "0.8310" in line and f"{ours['mean']:.4f} ±" in line
    assert "| weighted-F1 | 0.05 | 0.5256 | 0.6496 |" in markdown
    assert "randomly initialised CLIP only exercise the machinery" in markdown


def test_saved_models_serve_raw_memes_like_the_in_memory_models(ssl_run):
    out, results, _ = ssl_run
    test = read_mami(helpers.mami_dir(), task="B", split="test").frame
    images = []
    for path in test["image_path"]:
        with open(path, "rb") as f:
            images.append(f.read())
    for row in results["rows"]:
        if row["saved_model"] is None:
            continue
        folder = os.path.dirname(row["saved_model"])
        with open(os.path.join(folder, "runs", "seed_0.json")) as f:
            expected = np.asarray(json.load(f)["test_probabilities"])  # cached features -> classifier
        serve = tf.saved_model.load(row["saved_model"]).signatures["serving_default"]
        raw = serve(text=tf.constant(test["raw_text"].tolist()), image=tf.constant(images))
        np.testing.assert_allclose(raw["probabilities"], expected, atol=1e-4, err_msg=row["system"])
        cleaned = serve(text=tf.constant(test["text"].tolist()), image=tf.constant(images))
        np.testing.assert_allclose(cleaned["probabilities"], raw["probabilities"], atol=1e-6)
        predicted = raw["predicted"].numpy()
        np.testing.assert_array_equal(predicted, (raw["probabilities"].numpy() >= 0.5).astype(int))
        names = [" | ".join(n for n, p in zip(TASK_B_LABELS, row_) if p) for row_ in predicted]
        assert [s.decode() for s in raw["label"].numpy()] == names
        with open(os.path.join(row["saved_model"], "assets.extra", "memotion_tf.json")) as f:
            meta = json.load(f)
        assert meta["class_names"] == list(TASK_B_LABELS) and meta["multi_label"]
        assert (meta["system"], meta["label_ratio"]) == (row["system"], row["ratio"])


SERVE_ALONE = """
import sys, json
import tensorflow as tf
import tensorflow_text  # noqa: F401  (keras-hub's BPE tokenizer uses its regex_split op)
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = serve(text=tf.constant([sys.argv[2]]), image=tf.constant([open(sys.argv[3], "rb").read()]))
assert not [m for m in sys.modules if m.startswith(("memotion_tf", "keras_hub"))]
print(json.dumps(out["probabilities"].numpy().tolist()))
"""


def test_saved_model_serves_in_a_process_without_project_code(ssl_run, tmp_path):
    import subprocess
    import sys

    _, results, _ = ssl_run
    row = results["rows"][0]
    test = read_mami(helpers.mami_dir(), task="B", split="test").frame
    with open(os.path.join(os.path.dirname(row["saved_model"]), "runs", "seed_0.json")) as f:
        expected = json.load(f)["test_probabilities"][0]
    done = subprocess.run([sys.executable, "-c", SERVE_ALONE, os.path.abspath(row["saved_model"]),
                           test["raw_text"][0], test["image_path"][0]],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(json.loads(done.stdout.strip().splitlines()[-1])[0], expected, atol=1e-4)


def test_evaluate_from_the_saved_model_alone_equals_training_metrics(ssl_run):
    _, results, _ = ssl_run
    row = results["rows"][0]
    with open(os.path.join(os.path.dirname(row["saved_model"]), "runs", "seed_0.json")) as f:
        record = json.load(f)
    # Through the CLI without --split: a MAMI model is scored on test, as the paper reports.
    report = cli._cmd_evaluate(argparse.Namespace(saved_model=row["saved_model"], data_dir=helpers.mami_dir(),
                                                  split=None, batch_size=5))
    assert report["split"] == "test"
    assert (report["system"], report["label_ratio"], report["examples"]) == ("Ours", 0.3, 16)
    assert report["metrics"]["weighted_f1"] == pytest.approx(record["metrics"]["weighted_f1"], abs=1e-9)
    assert report["metrics"]["auc"] == pytest.approx(record["metrics"]["auc"], abs=1e-6)


def test_second_run_reuses_features_crom_ae_and_runs(ssl_run, caplog):
    out, results, _ = ssl_run
    caplog.set_level("INFO", logger="memotion_tf")
    again, _ = mami_ssl.reproduce(data_dir=helpers.mami_dir(), out_dir=out, seeds=2, overrides=FAST,
                                  systems=["Ours"], verbose=0)
    assert again["feature_cache"]["train"]["hit"] and again["feature_cache"]["test"]["hit"]
    assert "already finished" in caplog.text
    assert "extracting CLIP features" not in caplog.text and "training on" not in caplog.text
    assert again["rows"][0]["metrics"] == results["rows"][0]["metrics"]
    # A changed protocol retrains the rows but still reads the cached features.
    caplog.clear()
    changed, _ = mami_ssl.reproduce(data_dir=helpers.mami_dir(), out_dir=out, seeds=1,
                                    overrides=FAST + ["epochs=1", "protocol.export_ratios=[]"],
                                    systems=["w/o DB loss + CROM-AE encoders"], verbose=0)
    assert changed["feature_cache"]["train"]["hit"] and "already finished" not in caplog.text
    assert changed["rows"][0]["saved_model"] is None


@pytest.mark.large
def test_every_row_at_every_ratio_exports_a_matching_saved_model(tmp_path):
    out = str(tmp_path / "mami_ssl")
    results, _ = mami_ssl.reproduce(data_dir=helpers.mami_dir(), out_dir=out, seeds=1, overrides=helpers.TINY,
                                    verbose=0)
    assert len(results["rows"]) == 15
    test = read_mami(helpers.mami_dir(), task="B", split="test").frame
    images = [open(p, "rb").read() for p in test["image_path"]]
    for row in results["rows"]:
        with open(os.path.join(os.path.dirname(row["saved_model"]), "runs", "seed_0.json")) as f:
            expected = np.asarray(json.load(f)["test_probabilities"])
        serve = tf.saved_model.load(row["saved_model"]).signatures["serving_default"]
        out_ = serve(text=tf.constant(test["raw_text"].tolist()), image=tf.constant(images))
        np.testing.assert_allclose(out_["probabilities"], expected, atol=1e-4)
