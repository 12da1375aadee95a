"""The 1213Li reproduction end to end through the runner on a tiny synthetic
corpus: both tables and their baselines, the official predictions file (every
test meme, also one whose image is unreadable), the SavedModels, resume, and
the ensemble's splits.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m pytest tests/test_1213li_reproduction.py -q
"""

import argparse
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from memotion_tf import cli, runner
from memotion_tf.config import ConfigError
from memotion_tf.datasets.semeval21_task6 import TECHNIQUES, read_semeval21_task6, write_synthetic_semeval21_task6
from memotion_tf.evaluation.semeval21_task6 import check_predictions, score
from memotion_tf.papers import get_paper
from memotion_tf.papers.team_1213li import LEADERBOARD, _same_training, length_batches, member_splits

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
BROKEN = {"dev": 2, "test": 3}  # the meme (row index) of each split whose image is overwritten with junk


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = write_synthetic_semeval21_task6(tmp_path_factory.mktemp("s21") / "corpus", sizes=SIZES, seed=1)
    for split, index in BROKEN.items():
        image = read_semeval21_task6(path, split).frame["image_path"][index]
        with open(image, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + b"not a picture" * 8)  # a PNG header, then nothing decodable
    return str(path)


def broken_id(corpus, split):
    return str(read_semeval21_task6(corpus, split).frame["id"][BROKEN[split]])


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "1213li")
    results = runner.reproduce("1213li", data_dir=corpus, out=out, overrides=TINY, verbose=0)
    with open(os.path.join(out, "results.md")) as f:
        markdown = f.read()
    return out, results, markdown


def seed_record(out, row, seed=0):
    with open(os.path.join(out, os.path.dirname(row["saved_model"]), "runs", f"seed_{seed}.json")) as f:
        return json.load(f)


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


@pytest.mark.parametrize("counted", [False, True])
def test_length_batches_keep_every_token_and_drop_only_padding(counted):
    """Each meme once per epoch with all its tokens; a batch holds texts of one
    length bucket and is cut to its longest text; image features untouched.
    With an epoch counter, each epoch's order is a function of (seed, epoch):
    read again at the same epoch, the same; at the next, another."""
    from memotion_tf.training.epochs import EpochCounter

    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 25, size=30)  # tokens incl. [CLS] and [SEP], padded to 24; one text fills its row
    lengths[0] = 24
    mask = (np.arange(24)[None, :] < lengths[:, None]).astype(bool)
    token_ids = np.where(mask, rng.integers(5, 100, size=(30, 24)), 0).astype(np.int32)
    x = {"token_ids": token_ids, "padding_mask": mask, "segment_ids": np.zeros_like(token_ids),
         "image_features": np.arange(30, dtype=np.float32)[:, None, None] * np.ones((30, 4, 3), np.float32)}
    y = np.arange(30, dtype=np.float32)[:, None] * np.ones((30, 22), np.float32)  # the meme's index
    counter = EpochCounter()
    ds = length_batches(x, y, batch_size=4, seed=1, max_length=24, width=8, epoch=counter.epoch if counted else None)
    orders = []
    for epoch in (0, 1, 1):
        counter.on_epoch_begin(epoch)
        seen, batches = [], 0
        for features, targets in ds:
            batches += 1
            index = targets.numpy()[:, 0].astype(int)
            width = features["token_ids"].shape[1]
            assert width == lengths[index].max(), "cut to the batch's longest text"
            assert len({(n - 1) // 8 for n in lengths[index]}) == 1, "one length bucket per batch"
            np.testing.assert_array_equal(features["token_ids"].numpy(), token_ids[index, :width])
            np.testing.assert_array_equal(features["padding_mask"].numpy(), mask[index, :width])
            assert features["segment_ids"].shape[1] == width and features["image_features"].shape[1:] == (4, 3)
            np.testing.assert_array_equal(features["image_features"].numpy()[:, 0, 0], index)
            assert len(index) <= 4
            seen.extend(index.tolist())
        assert sorted(seen) == list(range(30))
        # The batches each epoch yields are the count the dataset declares (Keras' fit reads it).
        assert int(ds.cardinality()) == sum(-(-np.sum((lengths - 1) // 8 == b) // 4) for b in range(3))
        assert batches == int(ds.cardinality())
        orders.append(seen)
    assert orders[0] != orders[1]
    if counted:
        assert orders[1] == orders[2]


def test_results_follow_the_contract(run):
    out, results, _ = run
    with open(os.path.join(out, "results.json")) as f:
        assert json.load(f) == results
    # The fixture copy is synthetic and says so itself (its writer's marker).
    assert {k: results[k] for k in ("paper", "dataset", "task", "synthetic", "profile")} == {
        "paper": "1213li", "dataset": "semeval21_task6", "task": "3", "synthetic": True, "profile": "quick"}
    assert [r["system"] for r in results["rows"]] == ROWS
    assert [r["table"] for r in results["rows"]] == ["Table 1 (dev)"] * 4 + ["Table 2 (test)"]
    for row in results["rows"]:
        assert row["config"].endswith(".toml") and row["seeds"]
        for metric in ("micro_f1", "macro_f1", "macro_f1_zero_division_0"):
            summary = row["metrics"][metric]
            assert 0 <= summary["min"] <= summary["mean"] <= summary["max"] <= 1
            assert len(summary["runs"]) >= 1
        split = "dev" if row["table"].startswith("Table 1") else "test"
        assert set(row["paper"]) == {f"{split}_macro_f1", f"{split}_micro_f1"}
        assert os.path.exists(os.path.join(out, row["saved_model"], "saved_model.pb"))
        assert row["export_check"] < 1e-4, "the SavedModel gives the in-memory model's probabilities"
        folder = os.path.join(out, os.path.dirname(row["saved_model"]))
        for plot in ("training_curves.png", "per_technique_f1.png"):
            assert os.path.getsize(os.path.join(folder, plot)) > 1000
        assert glob.glob(os.path.join(folder, "tensorboard", "seed_0", "**", "events.out.tfevents.*"),
                         recursive=True), "TensorBoard logs under the row's folder"
        assert not os.path.exists(os.path.join(folder, "backup")), "resume state goes once the row is recorded"
    assert results["rows"][3]["paper"] == {"dev_macro_f1": 0.2040, "dev_micro_f1": 0.5680}
    assert results["rows"][4]["paper"] == {"test_macro_f1": 0.22830, "test_micro_f1": 0.54860}
    assert results["rows"][4]["seeds"] == [0]  # one run by nature: its members are the runs
    # The quick profile's ensemble has three members (the paper's five take longer than its budget).
    assert [m["member"] for m in results["rows"][4]["members"]] == [0, 1, 2]
    # Member 0 trains on the official dev memes whose image reads; the others on 8 memes of train+dev.
    assert [m["dev_memes"] for m in results["rows"][4]["members"]] == [SIZES[1] - 1, 8, 8]
    assert results["data"]["test"] == {"memes": SIZES[2], "readable": SIZES[2] - 1, "skipped_images": 1}


def test_dev_scores_are_logged_every_epoch_and_the_best_epoch_is_scored(run):
    out, results, _ = run
    for row in results["rows"][:4]:
        record = seed_record(out, row)
        history = record["history"]
        assert len(history["val_micro_f1"]) == len(history["val_macro_f1"]) == len(history["loss"]) == 1
        best = record["best_epoch"]
        assert record["metrics"]["micro_f1"] == pytest.approx(history["val_micro_f1"][best - 1])
        assert record["metrics"]["macro_f1"] == pytest.approx(history["val_macro_f1"][best - 1])


def test_baselines_are_the_most_frequent_training_techniques(run, corpus):
    _, results, _ = run
    train = read_semeval21_task6(corpus, "train").frame
    counts = {t: sum(t in labels for labels in train["labels"]) for t in TECHNIQUES}
    order = sorted(TECHNIQUES, key=lambda t: (-counts[t], TECHNIQUES.index(t)))
    baselines = results["baselines"]
    assert [(b["table"], len(b["techniques"])) for b in baselines] == (
        [("Table 1 (dev)", k) for k in (1, 2, 3, 4)] + [("Table 2 (test)", k) for k in (1, 2, 3, 4)])
    for row in baselines:
        assert row["baseline"] is True and row["techniques"] == order[:len(row["techniques"])]
        gold = list(read_semeval21_task6(corpus, row["split"]).frame["labels"])  # every meme, readable or not
        prior = set(row["techniques"])
        # By hand: micro F1 = 2 TP / (2 TP + FP + FN); macro over the 22 techniques, 1 where a technique
        # has neither gold nor predicted memes (the task's scorer), 0 there with zero_division=0.
        tp = sum(len(prior & set(g)) for g in gold)
        fp = len(prior) * len(gold) - tp
        fn = sum(len(g) for g in gold) - tp
        assert row["metrics"]["micro_f1"]["mean"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        per, per_zero = [], []
        for t in TECHNIQUES:
            t_tp = sum(t in g for g in gold) if t in prior else 0
            t_fp = len(gold) - t_tp if t in prior else 0
            t_fn = sum(t in g for g in gold) - t_tp
            denominator = 2 * t_tp + t_fp + t_fn
            per.append(2 * t_tp / denominator if denominator else 1.0)
            per_zero.append(2 * t_tp / denominator if denominator else 0.0)
        assert row["metrics"]["macro_f1"]["mean"] == pytest.approx(np.mean(per))
        assert row["metrics"]["macro_f1_zero_division_0"]["mean"] == pytest.approx(np.mean(per_zero))


def test_ensemble_predictions_file_is_official_and_scores_the_table(run, corpus):
    out, results, _ = run
    row = results["rows"][4]
    test = read_semeval21_task6(corpus, "test").frame
    path = os.path.join(out, row["predictions"])
    predictions = check_predictions(path, list(test["id"]))  # raises on any format error or missing id
    with open(path) as f:
        entries = json.load(f)
    assert [set(e) for e in entries] == [{"id", "labels"}] * len(test)
    assert [e["id"] for e in entries] == list(test["id"]), "every test meme, in the gold file's order"
    assert predictions[broken_id(corpus, "test")] == [], "a meme without a readable image gets no technique"
    assert row["skipped_test_images"] == 1
    scores = score(dict(zip(test["id"], test["labels"])), predictions)
    assert row["metrics"]["micro_f1"]["mean"] == pytest.approx(scores["micro_f1"])
    assert row["metrics"]["macro_f1"]["mean"] == pytest.approx(scores["macro_f1"])


def test_ensemble_saved_model_averages_the_members(run, corpus):
    out, results, _ = run
    row = results["rows"][4]
    record = seed_record(out, row)
    probabilities = [np.asarray(m["test_probabilities"]) for m in record["members"]]
    test = read_semeval21_task6(corpus, "test").frame
    serve = tf.saved_model.load(os.path.join(out, row["saved_model"])).signatures["serving_default"]
    images = [open(p, "rb").read() for p in test["image_path"]]
    served = serve(text=tf.constant(test["text"].tolist()), image=tf.constant(images))
    readable = np.arange(len(test)) != BROKEN["test"]
    np.testing.assert_allclose(served["probabilities"].numpy()[readable], np.mean(probabilities, axis=0),
                               atol=1e-5)
    assert served["probabilities"].shape == (SIZES[2], len(TECHNIQUES))
    assert np.isnan(served["probabilities"].numpy()[BROKEN["test"]]).all()
    assert served["error"].numpy()[BROKEN["test"]].decode().startswith("image:")
    # Member 0 is the "+ full att" row's model (official split, seed 0), trained once.
    full_att = seed_record(out, results["rows"][3])
    assert record["members"][0]["history"] == full_att["history"]


def test_markdown_has_both_tables_and_the_leaderboard(run):
    out, results, markdown = run
    assert "## Table 1: ablation on the dev set" in markdown and "## Table 2: test set" in markdown
    line = next(l for l in markdown.splitlines() if l.startswith("| + full att"))
    assert "0.2040" in line and "0.5680" in line
    assert f"{results['rows'][3]['metrics']['micro_f1']['mean']:.4f}" in line
    assert f"{results['rows'][3]['metrics']['macro_f1_zero_division_0']['mean']:.4f}" in line
    for rank, team, macro, micro in LEADERBOARD:
        assert f"| {rank} | {team} | {macro:.5f} | {micro:.5f} |" in markdown
    ours = next(l for l in markdown.splitlines() if l.startswith("| ours | 1213Li reproduced"))
    assert f"{results['rows'][4]['metrics']['micro_f1']['mean']:.4f}" in ours
    for baseline in results["baselines"]:
        assert f"*{baseline['system']}*" in markdown
    prior3 = next(l for l in markdown.splitlines() if l.startswith("| baseline | *prior: the 3 most"))
    test3 = next(b for b in results["baselines"] if b["split"] == "test" and len(b["techniques"]) == 3)
    assert f"{test3['metrics']['micro_f1']['mean']:.4f}" in prior3


def test_evaluate_from_the_saved_model_alone_equals_the_table(run, corpus):
    out, results, _ = run
    # Through the CLI: a 1213Li model is scored on dev unless --split says otherwise ("val" means dev).
    for row, split in ((results["rows"][3], None), (results["rows"][3], "val"), (results["rows"][4], "test")):
        report = cli._cmd_evaluate(argparse.Namespace(saved_model=os.path.join(out, row["saved_model"]),
                                                      data_dir=corpus, split=split, batch_size=32,
                                                      output=None))
        split = report["split"]
        assert split in ("dev", "test")
        assert report["examples"] == SIZES[1 if split == "dev" else 2]
        assert report["skipped_images"] == 1
        for metric in ("micro_f1", "macro_f1", "macro_f1_zero_division_0"):
            assert report["metrics"][metric] == pytest.approx(row["metrics"][metric]["mean"], abs=1e-9)


def test_second_run_reuses_everything(run, corpus, caplog):
    out, results, _ = run
    caplog.set_level("INFO", logger="memotion_tf")
    again = runner.reproduce("1213li", data_dir=corpus, out=out, overrides=TINY, verbose=0)
    assert "finished before, reusing" in caplog.text
    assert ": seed 0 (" not in caplog.text and "training (dev" not in caplog.text
    assert "exported" not in caplog.text
    assert [r["metrics"] for r in again["rows"]] == [r["metrics"] for r in results["rows"]]
    # The members' weights lived in the ensemble's resume folder, gone once its record was written;
    # the record keeps what the table and the plots need.
    assert not os.path.exists(os.path.join(out, "1213Li", "backup"))
    assert len(seed_record(out, results["rows"][4])["members"]) == 3


def test_unknown_system_and_unknown_keys_are_errors(corpus, tmp_path):
    with pytest.raises(ConfigError, match="unknown system"):
        runner.reproduce("1213li", data_dir=corpus, out=str(tmp_path / "a"), systems=["+ audio att"])
    with pytest.raises(ConfigError, match=r"'treshold' \(did you mean 'threshold'\?\)"):
        runner.reproduce("1213li", data_dir=corpus, out=str(tmp_path / "b"), overrides=["protocol.treshold=0.4"])
    with pytest.raises(ConfigError, match=r"'label_dims' \(did you mean 'label_dim'\?\)"):
        runner.reproduce("1213li", data_dir=corpus, out=str(tmp_path / "c"), overrides=["model_args.label_dims=8"])


def test_configs_hold_the_paper_settings():
    li = get_paper("1213li")
    paper = {c.system: c for c in li.load_configs("paper")}
    quick = {c.system: c for c in li.load_configs("quick")}
    assert list(paper) == ROWS
    for config in paper.values():
        assert (config.preset, config.image_weights, config.image_size) == ("roberta_base_en", "imagenet", 224)
        assert (config.learning_rate, config.batch_size, config.loss) == (1e-4, 64, "binary_crossentropy")
        assert config.model_args["label_dim"] == 256
        assert config.protocol["center_crop"] is True  # section 3.2.1: cropped, not squashed
    assert paper["1213Li"].protocol["ensemble_size"] == 5 and paper["1213Li"].protocol["resplit_dev_size"] == 64
    assert quick["1213Li"].protocol["ensemble_size"] == 3 and quick["1213Li"].protocol["resplit_dev_size"] == 64
    assert _same_training(paper["+ full att"], paper["1213Li"])
    assert not _same_training(paper["+ textual att"], paper["1213Li"])
    assert quick["+ full att"].preset == "all_minilm_l6_v2" and quick["+ full att"].image_weights == ""
    assert quick["+ full att"].protocol["length_buckets"] is True and "length_buckets" not in paper["1213Li"].protocol
    assert (li.evaluation_split, li.splits, li.split_aliases) == ("dev", ("dev", "train", "test"), {"val": "dev"})


def test_embedded_synthetic_corpus_has_the_configured_sizes_and_its_marker(tmp_path, monkeypatch):
    from memotion_tf.datasets import registry
    from memotion_tf.io import MARKER

    monkeypatch.setenv("MEMOTION_TF_HOME", str(tmp_path / "home"))
    li = get_paper("1213li")
    config = li.load_configs("quick", ["protocol.synthetic_sizes=[6, 2, 3]"])[0]
    path = li.ensure_data(config)
    assert registry.is_synthetic(path) and path.startswith(str(tmp_path / "home"))
    assert [len(read_semeval21_task6(path, s).frame) for s in ("train", "dev", "test")] == [6, 2, 3]
    stamp = os.path.getmtime(os.path.join(path, MARKER))
    assert li.ensure_data(config) == path and os.path.getmtime(os.path.join(path, MARKER)) == stamp
    assert li.ensure_data(config, str(tmp_path)) == str(tmp_path)  # a given folder is used as it is
