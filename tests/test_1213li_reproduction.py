"""The 1213Li reproduction end to end on a tiny synthetic corpus: both tables,
the official predictions file, the SavedModels, resume, and the ensemble's splits.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m pytest tests/test_1213li_reproduction.py -q
"""

import argparse
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from memotion_tf import cli
from memotion_tf.config import ConfigError
from memotion_tf.datasets.semeval21_task6 import TECHNIQUES, read_semeval21_task6, write_synthetic_semeval21_task6
from memotion_tf.evaluation.semeval21_task6 import check_predictions, score
from memotion_tf.reproductions import team_1213li
from memotion_tf.reproductions.team_1213li import LEADERBOARD, member_splits, reproduce

SIZES = (40, 10, 12)
# The quick pipeline on tiny settings: a 1-layer random BERT, 64 x 64 images (4 regions) through
# the tiny stand-in for ResNet-50 (its SavedModel export traces in seconds), 1 epoch.
TINY = [
    "preset=", "image_size=64", "max_length=24", "epochs=1", "batch_size=8",
    "model_args.label_dim=16", "model_args.classifier_units=[16, 8]",
    "protocol.tiny_backbone={'num_layers': 1, 'num_heads': 2, 'hidden_dim': 16, 'intermediate_dim': 32}",
    "protocol.resplit_dev_size=8", "model_args.image_backbone=tiny",
]
ROWS = ["RoBERTa+ResNet-50", "+ visual att", "+ textual att", "+ full att", "1213Li"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return str(write_synthetic_semeval21_task6(tmp_path_factory.mktemp("s21") / "corpus", sizes=SIZES, seed=1))


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "1213li")
    results, markdown = reproduce(data_dir=corpus, out_dir=out, overrides=TINY, verbose=0, progress=False)
    return out, results, markdown


def test_member_splits():
    splits = member_splits(30, 5, members=5, dev_size=8, split_seed=0)
    assert len(splits) == 5
    np.testing.assert_array_equal(splits[0][0], np.arange(30))  # member 0: the official split
    np.testing.assert_array_equal(splits[0][1], np.arange(30, 35))
    for train, dev in splits[1:]:
        assert len(dev) == 8 and len(train) == 27
        assert not set(train) & set(dev) and set(train) | set(dev) == set(range(35))
    assert len({tuple(dev) for _, dev in splits[1:]}) == 4, "each member draws its own dev set"
    again = member_splits(30, 5, members=5, dev_size=8, split_seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again))


def test_results_follow_the_contract(run):
    out, results, _ = run
    with open(os.path.join(out, "results.json")) as f:
        assert json.load(f) == results
    assert {k: results[k] for k in ("paper", "dataset", "task", "synthetic", "profile")} == {
        "paper": "1213li", "dataset": "semeval21_task6", "task": "3", "synthetic": False, "profile": "quick"}
    assert [r["system"] for r in results["rows"]] == ROWS
    assert [r["table"] for r in results["rows"]] == ["Table 1 (dev)"] * 4 + ["Table 2 (test)"]
    for row in results["rows"]:
        assert row["config"].endswith(".toml") and row["seeds"]
        for metric in ("micro_f1", "macro_f1"):
            summary = row["metrics"][metric]
            assert 0 <= summary["min"] <= summary["mean"] <= summary["max"] <= 1
            assert len(summary["runs"]) >= 1
        split = "dev" if row["table"].startswith("Table 1") else "test"
        assert set(row["paper"]) == {f"{split}_macro_f1", f"{split}_micro_f1"}
        assert os.path.exists(os.path.join(row["saved_model"], "saved_model.pb"))
        assert row["export_check"] < 1e-4, "the SavedModel gives the in-memory model's probabilities"
        folder = os.path.dirname(row["saved_model"])
        for plot in ("training_curves.png", "per_technique_f1.png"):
            assert os.path.getsize(os.path.join(folder, plot)) > 1000
    assert results["rows"][3]["paper"] == {"dev_macro_f1": 0.2040, "dev_micro_f1": 0.5680}
    assert results["rows"][4]["paper"] == {"test_macro_f1": 0.22830, "test_micro_f1": 0.54860}
    assert results["rows"][4]["seeds"] == [0, 1, 2, 3, 4]
    assert [m["dev_memes"] for m in results["rows"][4]["members"]] == [SIZES[1], 8, 8, 8, 8]


def test_ensemble_predictions_file_is_official_and_scores_the_table(run, corpus):
    _, results, _ = run
    row = results["rows"][4]
    test = read_semeval21_task6(corpus, "test").frame
    predictions = check_predictions(row["predictions"], list(test["id"]))  # raises on any format error
    with open(row["predictions"]) as f:
        assert [set(e) for e in json.load(f)] == [{"id", "labels"}] * len(test)
    scores = score(dict(zip(test["id"], test["labels"])), predictions)
    assert row["metrics"]["micro_f1"]["mean"] == pytest.approx(scores["micro_f1"])
    assert row["metrics"]["macro_f1"]["mean"] == pytest.approx(scores["macro_f1"])


def test_ensemble_saved_model_averages_the_members(run, corpus):
    out, results, _ = run
    row = results["rows"][4]
    member_dir = os.path.join(out, "1213Li", "members")
    probabilities = []
    for k in range(5):
        with open(os.path.join(member_dir, f"member_{k}.json")) as f:
            probabilities.append(np.asarray(json.load(f)["test_probabilities"]))
    test = read_semeval21_task6(corpus, "test").frame
    serve = tf.saved_model.load(row["saved_model"]).signatures["serving_default"]
    images = [open(p, "rb").read() for p in test["image_path"]]
    out = serve(text=tf.constant(test["text"].tolist()), image=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"], np.mean(probabilities, axis=0), atol=1e-5)
    assert out["probabilities"].shape == (SIZES[2], len(TECHNIQUES))
    # Member 0 is the "+ full att" row's model (official split, seed 0), trained once.
    with open(os.path.join(out_dir := os.path.dirname(os.path.dirname(member_dir)), "+_full_att", "runs",
                           "seed_0.json")) as f:
        full_att = json.load(f)
    with open(os.path.join(member_dir, "member_0.json")) as f:
        assert json.load(f)["history"] == full_att["history"]
    assert os.path.isdir(out_dir)


def test_markdown_has_both_tables_and_the_leaderboard(run):
    out, results, markdown = run
    with open(os.path.join(out, "results.md")) as f:
        assert f.read() == markdown
    assert "## Table 1: ablation on the dev set" in markdown and "## Table 2: test set" in markdown
    line = next(l for l in markdown.splitlines() if l.startswith("| + full att"))
    assert "0.2040" in line and "0.5680" in line
    assert f"{results['rows'][3]['metrics']['micro_f1']['mean']:.4f}" in line
    for rank, team, macro, micro in LEADERBOARD:
        assert f"| {rank} | {team} | {macro:.5f} | {micro:.5f} |" in markdown
    ours = next(l for l in markdown.splitlines() if l.startswith("| ours | 1213Li reproduced"))
    assert f"{results['rows'][4]['metrics']['micro_f1']['mean']:.4f}" in ours


def test_evaluate_from_the_saved_model_alone_equals_the_table(run, corpus):
    _, results, _ = run
    # Through the CLI: a 1213Li model is scored on dev unless --split says otherwise.
    for row, split in ((results["rows"][3], None), (results["rows"][4], "test")):
        report = cli._cmd_evaluate(argparse.Namespace(saved_model=row["saved_model"], data_dir=corpus,
                                                      split=split, batch_size=32))
        split = report["split"]
        assert report["examples"] == SIZES[1 if split == "dev" else 2]
        for metric in ("micro_f1", "macro_f1"):
            assert report["metrics"][metric] == pytest.approx(row["metrics"][metric]["mean"], abs=1e-9)


def test_second_run_reuses_everything(run, corpus, caplog):
    out, results, _ = run
    caplog.set_level("INFO", logger="memotion_tf")
    again, _ = reproduce(data_dir=corpus, out_dir=out, overrides=TINY, verbose=0, progress=False)
    assert "already finished" in caplog.text
    assert "training with seed" not in caplog.text and "training (dev" not in caplog.text
    assert "exported" not in caplog.text
    assert [r["metrics"] for r in again["rows"]] == [r["metrics"] for r in results["rows"]]
    # The members' weight files go once the ensemble is exported; their records stay.
    members = os.listdir(os.path.join(out, "1213Li", "members"))
    assert sorted(m for m in members if m.endswith(".json")) == [f"member_{k}.json" for k in range(5)]
    assert not [m for m in members if m.endswith(".h5")]


def test_unknown_system_is_an_error(corpus):
    with pytest.raises(ConfigError, match="unknown system"):
        reproduce(data_dir=corpus, systems=["+ audio att"])


def test_configs_hold_the_paper_settings():
    paper = {c.system: c for c in team_1213li.load_configs("paper")}
    quick = {c.system: c for c in team_1213li.load_configs("quick")}
    assert list(paper) == ROWS
    for config in paper.values():
        assert (config.preset, config.image_weights, config.image_size) == ("roberta_base_en", "imagenet", 224)
        assert (config.learning_rate, config.batch_size, config.loss) == (1e-4, 64, "binary_crossentropy")
        assert config.model_args["label_dim"] == 256
    assert paper["1213Li"].protocol["ensemble_size"] == 5 and paper["1213Li"].protocol["resplit_dev_size"] == 64
    assert team_1213li._same_training(paper["+ full att"], paper["1213Li"])
    assert not team_1213li._same_training(paper["+ textual att"], paper["1213Li"])
    assert quick["+ full att"].preset == "all_minilm_l6_v2" and quick["+ full att"].image_weights == ""
