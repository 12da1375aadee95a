"""The semi-supervised MAMI reproduction end to end on a tiny synthetic set,
through the runner: results.json / results.md as the contract says, plots,
TensorBoard logs with the paper's metrics per epoch, trivial baselines, the
feature cache and CROM-AE reused on a second run, and SavedModels that serve
raw text and image bytes with the outputs of the in-memory models."""

import argparse
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from memotion_tf import cli, runner
from memotion_tf.datasets.mami import TASK_B_LABELS, read_mami
from memotion_tf.papers import mami_ssl
from tests import mami_ssl_helpers as helpers

# Two rows that differ in every switch (encoders, loss), at two ratios; a SavedModel
# for each at ratio 0.3. The large test runs all 15 rows and exports each.
SYSTEMS = ["Ours", "w/o DB loss + CROM-AE encoders"]
FAST = helpers.TINY + ["protocol.ratios=[0.3, 0.1]", "protocol.export_ratios=[0.3]"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The user cache (MEMOTION_TF_HOME) the runs keep their CLIP features in."""
    with pytest.MonkeyPatch.context() as patch:
        folder = str(tmp_path_factory.mktemp("home"))
        patch.setenv("MEMOTION_TF_HOME", folder)
        yield folder


def reproduce(out, **options):
    results = runner.reproduce("mami-ssl", data_dir=helpers.mami_dir(), out=out, verbose=0, **options)
    with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
        return results, f.read()


@pytest.fixture(scope="module")
def ssl_run(tmp_path_factory, home):
    out = str(tmp_path_factory.mktemp("runs") / "mami_ssl")
    results, markdown = reproduce(out, seeds=2, overrides=FAST, systems=SYSTEMS)
    return out, results, markdown


def saved_model(out, row):
    return os.path.join(out, row["saved_model"])


def first_record(out, row):
    with open(os.path.join(out, mami_ssl.row_dir_name(row["system"], row["ratio"]), "runs", "seed_0.json")) as f:
        return json.load(f)


def test_results_follow_the_contract(ssl_run):
    out, results, _ = ssl_run
    with open(os.path.join(out, "results.json")) as f:
        assert json.load(f) == results
    # The fixture copy is synthetic and says so itself (its writer's marker).
    assert {k: results[k] for k in ("paper", "dataset", "task", "synthetic", "profile")} == {
        "paper": "mami-ssl", "dataset": "mami", "task": "B", "synthetic": True, "profile": "quick"}
    assert [(r["system"], r["ratio"]) for r in results["rows"]] == [
        (s, r) for s in SYSTEMS for r in (0.3, 0.1)]
    assert (results["data"]["train"], results["data"]["val"], results["data"]["test"]) == (64, 16, 16)
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
            assert os.path.exists(os.path.join(saved_model(out, row), "saved_model.pb"))
        else:
            assert row["saved_model"] is None
    ours = results["rows"][0]
    assert ours["paper"] == {"test_weighted_f1": 0.7433, "test_auc": 0.8310}
    assert results["rows"][1]["paper"] == {"test_weighted_f1": 0.7184, "test_auc": 0.8145}
    assert results["rows"][2]["paper"] == {"test_weighted_f1": 0.7074}  # Table 5, ratio 0.3 only
    assert results["rows"][3]["paper"] == {}
    assert results["paper_baselines"]["auc"]["0.05"]["CMML-CLIP"] == 0.7664
    assert os.path.getsize(os.path.join(out, "summary.png")) > 1000
    # The features sit in the user cache, one folder per data copy and CLIP.
    assert results["feature_cache"]["folder"].startswith(os.path.join(home_of(results), "features", "mami-ssl"))
    # One CROM-AE per seed, shared by the rows that use its encoders, beside the rows.
    for seed in (0, 1):
        assert os.path.exists(os.path.join(out, "CROM-AE", f"seed_{seed}", "crom_ae.weights.h5"))
    assert not os.path.exists(os.path.join(out, "CROM-AE", "backup"))


def home_of(results):
    return os.environ["MEMOTION_TF_HOME"]


def test_paper_metrics_are_logged_every_epoch_for_the_curves_and_tensorboard(ssl_run):
    out, results, _ = ssl_run
    for row in results["rows"]:
        record = first_record(out, row)
        for key in ("loss", "val_loss", "val_weighted_f1", "val_auc"):
            assert len(record["history"][key]) == 2, (row["system"], key)
        # The last epoch's validation scores are those of the model the run scored.
        assert record["history"]["val_weighted_f1"][-1] == pytest.approx(record["val_metrics"]["weighted_f1"])
        assert record["history"]["val_auc"][-1] == pytest.approx(record["val_metrics"]["auc"])
        logs = os.path.join(out, mami_ssl.row_dir_name(row["system"], row["ratio"]), "tensorboard", "seed_0")
        events = [f for _, _, files in os.walk(logs) for f in files if f.startswith("events.out.tfevents")]
        assert events, logs
    assert os.path.isdir(os.path.join(out, "CROM-AE", "tensorboard", "seed_0"))


def test_trivial_baselines_on_the_test_set(ssl_run):
    """Constant scores give AUC 0.5; predicting nothing or everything gives the
    weighted F1 the same metric code computes from the test labels by hand."""
    from memotion_tf.evaluation.multilabel import mami_weighted_f1

    _, results, markdown = ssl_run
    test = read_mami(helpers.mami_dir(), task="B", split="test").frame[list(TASK_B_LABELS)].to_numpy()
    baselines = {b["system"]: b for b in results["baselines"]}
    assert set(baselines) == {"training prevalence of each label", "per-label majority of train",
                              "every label on every meme"}
    for baseline in baselines.values():
        assert baseline["baseline"] and baseline["seeds"] == []
        assert baseline["metrics"]["auc"]["mean"] == pytest.approx(0.5)
    # Every task-B label is on fewer than half of the memes: prevalence and majority predict none.
    none = mami_weighted_f1(test, np.zeros_like(test))
    assert baselines["per-label majority of train"]["metrics"]["weighted_f1"]["mean"] == pytest.approx(none)
    assert baselines["training prevalence of each label"]["metrics"]["weighted_f1"]["mean"] == pytest.approx(none)
    everything = mami_weighted_f1(test, np.ones_like(test))
    assert baselines["every label on every meme"]["metrics"]["weighted_f1"]["mean"] == pytest.approx(everything)
    assert f"| *every label on every meme* | any | - | - | {everything:.4f} | 0.5000 | - |" in markdown


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
        expected = np.asarray(first_record(out, row)["test_probabilities"])  # cached features -> classifier
        serve = tf.saved_model.load(saved_model(out, row)).signatures["serving_default"]
        raw = serve(text=tf.constant(test["raw_text"].tolist()), image=tf.constant(images))
        np.testing.assert_allclose(raw["probabilities"], expected, atol=1e-4, err_msg=row["system"])
        cleaned = serve(text=tf.constant(test["text"].tolist()), image=tf.constant(images))
        np.testing.assert_allclose(cleaned["probabilities"], raw["probabilities"], atol=1e-6)
        predicted = raw["predicted"].numpy()
        np.testing.assert_array_equal(predicted, (raw["probabilities"].numpy() >= 0.5).astype(int))
        names = [" | ".join(n for n, p in zip(TASK_B_LABELS, row_) if p) for row_ in predicted]
        assert [s.decode() for s in raw["label"].numpy()] == names
        with open(os.path.join(saved_model(out, row), "assets.extra", "memotion_tf.json")) as f:
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

    out, results, _ = ssl_run
    row = results["rows"][0]
    test = read_mami(helpers.mami_dir(), task="B", split="test").frame
    expected = first_record(out, row)["test_probabilities"][0]
    done = subprocess.run([sys.executable, "-c", SERVE_ALONE, os.path.abspath(saved_model(out, row)),
                           test["raw_text"][0], test["image_path"][0]],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(json.loads(done.stdout.strip().splitlines()[-1])[0], expected, atol=1e-4)


def test_evaluate_from_the_saved_model_alone_equals_training_metrics(ssl_run):
    out, results, _ = ssl_run
    row = results["rows"][0]
    record = first_record(out, row)
    # Through the CLI without --split: a MAMI model is scored on test, as the paper reports.
    report = cli._cmd_evaluate(argparse.Namespace(saved_model=saved_model(out, row), data_dir=helpers.mami_dir(),
                                                  split=None, batch_size=5, output=None))
    assert report["split"] == "test"
    assert (report["system"], report["label_ratio"], report["examples"]) == ("Ours", 0.3, 16)
    assert report["metrics"]["weighted_f1"] == pytest.approx(record["metrics"]["weighted_f1"], abs=1e-9)
    assert report["metrics"]["auc"] == pytest.approx(record["metrics"]["auc"], abs=1e-6)


def test_second_run_reuses_features_crom_ae_and_runs(ssl_run, caplog):
    out, results, _ = ssl_run
    caplog.set_level("INFO", logger="memotion_tf")
    again, _ = reproduce(out, seeds=2, overrides=FAST, systems=["Ours"])
    assert again["feature_cache"]["train"]["hit"] and again["feature_cache"]["test"]["hit"]
    assert "finished before, reusing" in caplog.text
    assert "extracting CLIP features" not in caplog.text and "CROM-AE seed 0: training on" not in caplog.text
    assert "CROM-AE seed 1: training on" not in caplog.text
    assert again["rows"][0]["metrics"] == results["rows"][0]["metrics"]
    # A changed protocol retrains the rows but still reads the cached features.
    caplog.clear()
    changed, _ = reproduce(out, seeds=1, overrides=FAST + ["epochs=1", "protocol.export_ratios=[]"],
                           systems=["w/o DB loss + CROM-AE encoders"])
    assert changed["feature_cache"]["train"]["hit"] and "finished before, reusing" not in caplog.text
    assert changed["rows"][0]["saved_model"] is None


def test_crom_ae_killed_mid_training_resumes_from_its_backup_whichever_row_asks(ssl_run, tmp_path, caplog):
    """The shared CROM-AE's training backup lives under OUT/CROM-AE, not in
    one row's backup: a run that starts again with another row resumes it,
    and the backup goes once the weights and record are final."""
    from memotion_tf.papers import get_paper
    from memotion_tf.runner import Progress, RunContext
    from memotion_tf.training.strategy import get_strategy

    first_out, _, _ = ssl_run
    out = str(tmp_path / "mami_ssl")
    paper = get_paper("mami-ssl")
    configs = paper.load_configs("quick", FAST, files=[paper.config_paths()[0]])
    data = paper.prepare(configs, helpers.mami_dir(), False)
    # The state a kill after CROM-AE's first epoch (of two) leaves, made with
    # another seed so that a resumed history is told apart from a fresh one.
    signature = mami_ssl.ae_signature(data, 0)
    runner.claim_output(out, "mami-ssl")  # the killed run had claimed OUT
    backup = os.path.join(out, "CROM-AE", "backup", "seed_0")
    runner.keep_backup_of(backup, signature)
    ctx = RunContext(seed=0, strategy=get_strategy(), folder=os.path.join(out, "CROM-AE"), backup_dir=backup,
                     verbose=0, progress=Progress(1))
    _, killed = mami_ssl.train_crom_ae(data.ae_config.replace(epochs=1), data, 5, ctx.strategy, ctx=ctx)
    assert len(killed["loss"]) == 1 and os.path.isdir(backup)

    caplog.set_level("INFO", logger="memotion_tf")
    reproduce(out, seeds=1, overrides=FAST + ["protocol.ratios=[0.1]"], systems=["w/o DB loss"])
    assert "CROM-AE seed 0: training on" in caplog.text
    with open(os.path.join(out, "CROM-AE", "seed_0", "record.json")) as f:
        resumed = json.load(f)
    with open(os.path.join(first_out, "CROM-AE", "seed_0", "record.json")) as f:
        fresh = json.load(f)
    assert resumed["signature"] == fresh["signature"] == signature
    # Epoch 1 comes from the backup (seed 5), epoch 2 was trained on top of it.
    assert len(resumed["history"]["loss"]) == 2
    assert resumed["history"]["loss"][0] == killed["loss"][0] != fresh["history"]["loss"][0]
    assert not os.path.exists(backup)


def test_a_crom_ae_backup_of_other_settings_is_not_resumed(tmp_path):
    backup = str(tmp_path / "backup")
    os.makedirs(os.path.join(backup, "model"))
    with open(os.path.join(backup, "signature.json"), "w") as f:
        json.dump({"crom_ae": {"latent_dim": 16}}, f)
    runner.keep_backup_of(backup, {"crom_ae": {"latent_dim": 8}})
    assert os.listdir(backup) == ["signature.json"]
    with open(os.path.join(backup, "signature.json")) as f:
        assert json.load(f) == {"crom_ae": {"latent_dim": 8}}


@pytest.mark.large
def test_every_row_at_every_ratio_exports_a_matching_saved_model(tmp_path, home):
    out = str(tmp_path / "mami_ssl")
    results, _ = reproduce(out, seeds=1, overrides=helpers.TINY)
    assert len(results["rows"]) == 15
    test = read_mami(helpers.mami_dir(), task="B", split="test").frame
    images = [open(p, "rb").read() for p in test["image_path"]]
    for row in results["rows"]:
        expected = np.asarray(first_record(out, row)["test_probabilities"])
        serve = tf.saved_model.load(saved_model(out, row)).signatures["serving_default"]
        out_ = serve(text=tf.constant(test["raw_text"].tolist()), image=tf.constant(images))
        np.testing.assert_allclose(out_["probabilities"], expected, atol=1e-4)
