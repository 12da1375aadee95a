"""The UoR reproduction end to end on tiny settings, the CLI, and MirroredStrategy."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from memotion_tf import cli, paths
from memotion_tf.papers import get_paper
from memotion_tf.papers.memotion import train_once
from memotion_tf.runner import reproduce
from memotion_tf.training.strategy import get_strategy
from tests import fixtures

TINY = ["epochs=1", "batch_size=16", "image_size=32", "max_length=24"]


@pytest.fixture(scope="module")
def uor_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "uor")
    results = reproduce("uor", data_dir=fixtures.memotion_dir(), out=out, seeds=2,
                        systems=["LSTM-T+GMM", "CNN-LSTM-TI"], overrides=TINY, verbose=0)
    with open(os.path.join(out, "results.md")) as f:
        markdown = f.read()
    return out, results, markdown


def saved_model_path(out, row):
    """A row's SavedModel: results.json holds it relative to OUT."""
    return os.path.join(out, row["saved_model"])


def test_results_follow_the_contract(uor_run):
    out, results, _ = uor_run
    on_disk = json.load(open(os.path.join(out, "results.json")))
    assert on_disk == results
    # The fixture copy is synthetic, and says so itself (its writer's marker).
    assert {k: results[k] for k in ("paper", "dataset", "task", "synthetic", "profile")} == {
        "paper": "uor", "dataset": "memotion7k", "task": "A", "synthetic": True, "profile": "quick"}
    assert [r["system"] for r in results["rows"]] == ["LSTM-T+GMM", "CNN-LSTM-TI"]
    # The text-only row keeps the 4 memes whose image is missing or corrupt; the image row leaves them out.
    assert results["data"]["memes"] == 480 and results["data"]["skipped_images"] == 4
    for row in results["rows"]:
        assert row["seeds"] == [0, 1]
        assert row["config"].endswith(".toml")
        for metric in ("macro_f1", "accuracy"):
            summary = row["metrics"][metric]
            assert len(summary["runs"]) == 2
            assert summary["min"] <= summary["mean"] <= summary["max"]
            assert summary["mean"] == pytest.approx(np.mean(summary["runs"]))
        assert "test_macro_f1" in row["paper"]
        assert not os.path.isabs(row["saved_model"])
        saved = saved_model_path(out, row)
        assert os.path.exists(os.path.join(saved, "saved_model.pb"))
        folder = os.path.dirname(saved)
        assert os.path.getsize(os.path.join(folder, "confusion_matrix.png")) > 1000
        assert os.path.getsize(os.path.join(folder, "training_curves.png")) > 1000


def test_markdown_puts_ours_beside_the_paper(uor_run):
    out, results, markdown = uor_run
    line = next(l for l in markdown.splitlines() if l.startswith("| CNN-LSTM-TI"))
    assert "0.329" in line and "0.729" in line and "±" in line
    # The paper's 'Valid set' accuracy (a range), the one like-for-like column, beside ours.
    assert "0.47-0.52" in line
    baseline = next(l for l in markdown.splitlines() if l.startswith("| *majority class"))
    assert results["baselines"][0]["baseline"] is True
    assert f"{results['baselines'][0]['metrics']['accuracy']['mean']:.3f}" in baseline


def test_evaluate_from_saved_model_alone_equals_training_metrics(uor_run, capsys):
    out, results, _ = uor_run
    for row in results["rows"]:
        saved = saved_model_path(out, row)
        record = json.load(open(os.path.join(os.path.dirname(saved), "runs", "seed_0.json")))
        report = cli._cmd_evaluate(type("Args", (), {
            "saved_model": saved, "data_dir": fixtures.memotion_dir(), "split": "val",
            "batch_size": 32, "output": None})())
        assert report["metrics"]["macro_f1"] == pytest.approx(record["metrics"]["macro_f1"], abs=1e-9)
        assert report["metrics"]["accuracy"] == pytest.approx(record["metrics"]["accuracy"], abs=1e-9)


def test_evaluate_names_the_splits_a_model_is_scored_on(uor_run, caplog):
    out, results, _ = uor_run
    saved = saved_model_path(out, results["rows"][0])
    assert cli.main(["evaluate", "--saved-model", saved, "--data-dir", fixtures.memotion_dir(), "--split", "dev"]) == 2
    assert "val | train | all | test, not 'dev'" in caplog.text


def test_second_run_reuses_finished_seeds(uor_run, caplog):
    out, results, _ = uor_run
    caplog.set_level("INFO", logger="memotion_tf")
    again = reproduce("uor", data_dir=fixtures.memotion_dir(), out=out, seeds=2,
                      systems=["LSTM-T+GMM"], overrides=TINY, verbose=0)
    assert "finished before, reusing" in caplog.text and ": seed 0 (" not in caplog.text
    assert again["rows"][0]["metrics"] == results["rows"][0]["metrics"]


def test_unknown_system_is_an_error():
    from memotion_tf.config import ConfigError

    with pytest.raises(ConfigError, match="unknown system"):
        reproduce("uor", data_dir=fixtures.memotion_dir(), systems=["LSTM-X"])


def test_mirrored_strategy_over_two_logical_cpus_trains():
    strategy = get_strategy(logical_cpus=2)
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 2
    from memotion_tf import config as config_lib

    config = config_lib.load_config(get_paper("uor").config_paths()[5], "quick", TINY + ["epochs=2"])
    import keras

    history = keras.callbacks.History()
    model, _, probabilities = train_once(config, fixtures.memotion_data(), seed=0, strategy=strategy,
                                         callbacks=[history], verbose=0)
    # Keras 3 wraps the tf.Variable; under MirroredStrategy it is mirrored on both devices.
    assert isinstance(model.trainable_variables[0].value, tf.distribute.DistributedValues)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert probabilities.shape == (len(fixtures.memotion_data().split("val")), 3)


def test_cli_data_synth_and_check(tmp_path, capsys):
    out = str(tmp_path / "memotion")
    assert cli.main(["data", "synth", "--dataset", "memotion7k", "--out", out, "--size", "60"]) == 0
    assert cli.main(["data", "check", "--dataset", "memotion7k", "--data-dir", out]) == 0
    printed = capsys.readouterr().out
    assert "56 of 60 memes have a readable image; 4 skipped" in printed
    assert "class counts: negative" in printed
    # A synthetic copy says so itself, whatever path it is passed by.
    from memotion_tf.datasets import registry

    assert registry.is_synthetic(out) and not registry.is_synthetic(str(tmp_path))
    (tmp_path / "real").mkdir()
    assert not registry.is_synthetic(str(tmp_path / "real"))


def test_cli_reports_data_errors_without_a_traceback(tmp_path, caplog):
    (tmp_path / "labels.csv").write_text(",image_name,text_corrected,overall_sentiment\n0,a.jpg,x,great\n")
    assert cli.main(["data", "check", "--dataset", "memotion7k", "--data-dir", str(tmp_path)]) == 2
    assert "row 1" in caplog.text and "overall_sentiment" in caplog.text


def test_reproduce_reports_data_errors_without_a_traceback(tmp_path, caplog):
    (tmp_path / "labels.csv").write_text(",image_name,text_corrected,overall_sentiment\n0,a.jpg,x,great\n")
    assert cli.main(["reproduce", "uor", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "row 1" in caplog.text and "overall_sentiment" in caplog.text
    assert not (tmp_path / "out" / "results.json").exists()


def test_cli_predict_writes_per_row_errors(uor_run, tmp_path):
    out, results, _ = uor_run
    saved = saved_model_path(out, results["rows"][1])  # CNN-LSTM-TI takes text and image
    frame = fixtures.memotion_data().split("val").head(3)
    for path in frame["image_path"]:  # image paths in a predict CSV stay inside its folder
        shutil.copy(path, tmp_path)
    rows = [f"{i},{t},{os.path.basename(p)}" for i, (t, p) in enumerate(zip(frame["text"], frame["image_path"]))]
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    rows.append("9,some text,broken.jpg")
    (tmp_path / "memes.csv").write_text("id,text,image\n" + "\n".join(rows) + "\n")
    output = str(tmp_path / "preds.json")
    assert cli.main(["predict", "--saved-model", saved, "--input", str(tmp_path / "memes.csv"),
                     "--output", output]) == 0
    preds = json.load(open(output))
    assert [p["error"] == "" for p in preds] == [True, True, True, False]
    assert "broken.jpg" in preds[3]["error"]
    assert all(p["label"] in ("negative", "neutral", "positive") for p in preds[:3])


# Memotion's official test release (2000_testdata.csv, 2000_data/, Meme_groundTruth.csv).


@pytest.fixture(scope="module")
def test_release(tmp_path_factory):
    from memotion_tf.datasets.memotion7k import write_synthetic_memotion7k_test

    root = tmp_path_factory.mktemp("memotion_test")
    with_gold = write_synthetic_memotion7k_test(str(root / "with_gold"), size=40, seed=3)
    without_gold = write_synthetic_memotion7k_test(str(root / "without_gold"), size=12, seed=4, gold=False)
    return with_gold, without_gold


def _answers(path):
    with open(path) as f:
        return f.read().splitlines()


def test_evaluate_on_the_official_test_release_scores_every_meme(uor_run, test_release, tmp_path):
    from sklearn.metrics import f1_score

    from memotion_tf.datasets.memotion7k import TASK_A_CODES, read_memotion7k_test

    out, results, _ = uor_run
    with_gold, _ = test_release
    gold = read_memotion7k_test(with_gold).frame  # joined by image name: the gold file is in another order
    for row in results["rows"]:
        answer = str(tmp_path / f"{row['system']}.txt")
        report = cli._cmd_evaluate(type("Args", (), {
            "saved_model": saved_model_path(out, row), "data_dir": with_gold, "split": "test",
            "batch_size": 16, "output": answer})())
        # All 40 memes scored and answered, in 2000_testdata.csv's order; the image row predicts the
        # meme whose image is missing from a black picture (counted), the text row needs no image.
        assert report["examples"] == 40 and report["split"] == "test"
        assert report["images_replaced"] == (1 if row["system"] == "CNN-LSTM-TI" else 0)
        lines = _answers(answer)
        assert len(lines) == 40 and all(line.endswith("_9999_9999") for line in lines)
        predicted = [TASK_A_CODES.index(line.split("_")[0]) for line in lines]
        # The report's metrics are those of the answer file against the gold labels.
        assert report["metrics"]["macro_f1"] == pytest.approx(
            f1_score(gold["label"], predicted, average="macro", labels=[0, 1, 2], zero_division=0))
        assert report["metrics"]["accuracy"] == pytest.approx(np.mean(np.asarray(predicted) == gold["label"]))


def test_evaluate_on_a_test_release_without_gold_writes_the_answer_file_only(uor_run, test_release):
    out, results, _ = uor_run
    _, without_gold = test_release
    saved = saved_model_path(out, results["rows"][0])
    report = cli._cmd_evaluate(type("Args", (), {
        "saved_model": saved, "data_dir": without_gold, "split": "test", "batch_size": 16, "output": None})())
    assert report["metrics"] == {} and "no gold labels" in report["note"]
    # Default answer file: beside the SavedModel.
    assert report["answer_file"] == os.path.join(os.path.dirname(os.path.abspath(saved)), "answer.txt")
    assert len(_answers(report["answer_file"])) == 12


def test_evaluate_test_on_the_training_folder_is_a_one_line_error(uor_run, caplog):
    out, results, _ = uor_run
    saved = saved_model_path(out, results["rows"][0])
    code = cli.main(["evaluate", "--saved-model", saved, "--data-dir", fixtures.memotion_dir(), "--split", "test"])
    assert code == 2
    assert "2000_testdata.csv not found" in caplog.text and "Traceback" not in caplog.text
