"""BiliMemeNet data preparation: form detection, segmentation before labelling,
the hash split, the processed split's main categories, and the configs."""

import os

import numpy as np
import pytest

from memotion_tf import config as config_lib
from memotion_tf.datasets import danmu
from memotion_tf.datasets.common import DataError
from memotion_tf.papers import bilimeme, get_paper

HEADER = ",Bullet Chat,Frequency,Source Video Title,Category ID,Channel ID,Source Video View Count\n"


def write_table(path, rows):
    lines = [HEADER] + [f"{i},{text},{freq},video {i},{tid},0,100\n" for i, (text, freq, tid) in enumerate(rows)]
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def write_processed(folder, splits):
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        (folder / f"{split}.csv").write_text(
            "text,label\n" + "".join(f"{t},{l}\n" for t, l in rows), encoding="utf-8")
    return str(folder)


# --- form detection -----------------------------------------------------------


def test_detect_form(tmp_path):
    (tmp_path / "raw").mkdir()
    raw = write_table(tmp_path / "raw" / "danmu.csv", [("游戏", 1, 171)])
    assert bilimeme.detect_form(raw) == ("raw", raw)
    assert bilimeme.detect_form(os.path.dirname(raw)) == ("raw", raw)
    processed = write_processed(tmp_path / "processed", {s: [("游戏", 2)] for s in danmu.SPLITS})
    assert bilimeme.detect_form(processed) == ("processed", processed)
    # Both forms in one folder: auto prefers the raw table, which carries the frequencies.
    write_table(tmp_path / "processed" / "danmu.csv", [("游戏", 1, 171)])
    assert bilimeme.detect_form(processed)[0] == "raw"
    assert bilimeme.detect_form(processed, "processed")[0] == "processed"


def test_detect_form_errors_name_the_folder(tmp_path):
    with pytest.raises(DataError, match=r"expected danmu\.csv .* or train\.csv") as e:
        bilimeme.detect_form(str(tmp_path))
    assert e.value.file == str(tmp_path)
    (tmp_path / "train.csv").write_text("text,label\n游戏,2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"incomplete: missing \['val.csv', 'test.csv'\]"):
        bilimeme.detect_form(str(tmp_path))
    with pytest.raises(DataError, match="no such file"):
        bilimeme.detect_form(str(tmp_path / "nowhere"))
    with pytest.raises(config_lib.ConfigError, match="data_form"):
        bilimeme.detect_form(str(tmp_path), "both")


# --- the hash split -------------------------------------------------------------


def test_hash_split_is_a_function_of_the_text():
    texts = [f"弹幕{i}" for i in range(3000)]
    first = bilimeme.hash_split(texts, [0.72, 0.08, 0.2])
    assert first.tolist() == bilimeme.hash_split(list(reversed(texts)), [0.72, 0.08, 0.2])[::-1].tolist()
    shares = np.bincount(first, minlength=3) / len(texts)
    assert np.allclose(shares, [0.72, 0.08, 0.2], atol=0.03)
    assert bilimeme.hash_split(["同一句"] * 5, [1, 1, 1]).tolist() == [bilimeme.hash_split(["同一句"], [1, 1, 1])[0]] * 5
    assert not np.array_equal(first, bilimeme.hash_split(texts, [0.72, 0.08, 0.2], seed=1))
    with pytest.raises(config_lib.ConfigError, match="split_fractions"):
        bilimeme.hash_split(texts, [0.5, 0.5])


# --- raw table: segmentation happens before the labelling rule -------------------


def _all_splits(data, level):
    frames = getattr(data, level)
    return {t: int(l) for s in danmu.SPLITS for t, l in zip(frames[s]["text"], frames[s]["label"])}


def test_raw_chats_are_segmented_and_stopwords_removed_before_counting(tmp_path, monkeypatch):
    rows = [
        # "这个游戏的画面啊" and "游戏画面" become one chat, 游戏 画面, once 这个/的/啊 are gone:
        ("这个游戏的画面啊", 3, 27),   # Animation 3
        ("游戏画面", 2, 214),          # Food 2
        ("游戏画面！", 2, 76),         # Food 2 more: Food 4 > Animation 3 only after merging
        ("好吃", 5, 214),              # Food
        ("好吃", 1, 95),               # Technology
        ("科普", 4, 95),               # Technology
        ("电影", 3, 23),               # Movie only: not in the 6-class scheme
    ]
    path = write_table(tmp_path / "danmu.csv", rows)
    # Every chat in one split so the test sees all of them at both levels.
    monkeypatch.setattr(bilimeme, "hash_split", lambda texts, fractions, seed=0: np.zeros(len(texts), int))
    with pytest.raises(DataError, match="no six-level chats left in the val split"):
        bilimeme.prepare_danmu(path)
    monkeypatch.setattr(bilimeme, "hash_split",
                        lambda texts, fractions, seed=0: np.arange(len(texts)) % 3)
    data = bilimeme.prepare_danmu(path)
    six, main = _all_splits(data, "six"), _all_splits(data, "main")
    assert six == {"游戏 画面": danmu.SIX_CLASSES.index("food"), "好吃": danmu.SIX_CLASSES.index("food"),
                   "科普": danmu.SIX_CLASSES.index("technology")}
    assert main == {"游戏 画面": danmu.MAIN_CATEGORIES.index("Life"), "好吃": danmu.MAIN_CATEGORIES.index("Life"),
                    "科普": danmu.MAIN_CATEGORIES.index("Knowledge"), "电影": danmu.MAIN_CATEGORIES.index("Movie")}
    # The ground-truth frequencies behind Acc@k: 游戏 画面 has Animation 3, Life 4.
    frame = data.main["train"]
    i = frame.index[frame["text"] == "游戏 画面"][0]
    assert data.main_scores["train"][i].tolist() == [3, 0, 0, 4, 0]
    assert data.form == "raw" and any("six: 3 segmented chats" in line for line in data.summary)


def test_unknown_category_id_is_reported_by_row(tmp_path):
    path = write_table(tmp_path / "danmu.csv", [("游戏", 1, 171), ("游戏", 1, 999)])
    with pytest.raises(DataError, match="unknown Bilibili category id 999") as e:
        bilimeme.prepare_danmu(path)
    assert (e.value.row, e.value.column) == (2, "Category ID")


# --- processed split ----------------------------------------------------------------


def test_processed_split_maps_to_main_categories_and_leaves_general_out(tmp_path):
    rows = [("上分抽卡", 2), ("好吃的火锅", 5), ("前方高能", 6), ("手机 芯片", 3), ("啊啊", 4)]
    folder = write_processed(tmp_path / "p", {s: rows for s in danmu.SPLITS})
    data = bilimeme.prepare_danmu(folder)
    assert data.form == "processed"
    test = data.six["test"]
    # 啊啊 is emptied by stopword removal and kept as the empty text: every row of the
    # paper's test split is scored. 好吃的火锅 loses 的; text already segmented stays.
    assert test["text"].tolist() == ["上分 抽卡", "好吃 火锅", "前方 高能", "手机 芯片", ""]
    assert test["row"].tolist() == [1, 2, 3, 4, 5] and data.emptied["test"] == 1
    main = data.main["test"]
    assert main["text"].tolist() == ["上分 抽卡", "好吃 火锅", "手机 芯片", ""]  # general has no main category
    assert [danmu.MAIN_CATEGORIES[l] for l in main["label"]] == ["Animation", "Life", "Knowledge", "Life"]
    # One gold category per chat: the gold scores are one-hot, so Acc@3 = Acc@1.
    assert data.main_scores["test"].tolist() == np.eye(5)[[0, 3, 2, 3]].tolist()
    assert any("5 chats, every one kept (1 emptied by segmentation" in line for line in data.summary)


def test_processed_bad_label_names_file_row_and_column(tmp_path):
    folder = write_processed(tmp_path / "p", {"train": [("游戏", 2)], "val": [("游戏", 7)], "test": [("游戏", 1)]})
    with pytest.raises(DataError, match="label '7' is not one of 1..6") as e:
        bilimeme.prepare_danmu(folder)
    assert e.value.file.endswith("val.csv") and (e.value.row, e.value.column) == (1, "label")


# --- configs ---------------------------------------------------------------------


def test_configs_carry_the_papers_protocol():
    quick = {c.system: c for c in get_paper("bilimeme").load_configs("quick")}
    paper = {c.system: c for c in get_paper("bilimeme").load_configs("paper")}
    assert list(paper) == ["Linear baseline", "Chinese BERT", "Prompt 1: question",
                           "Prompt 2: text classification", "Prompt 3: danmu classification",
                           "Prompt 4: internet meme classification", "Prompt tuning"]
    bert = paper["Chinese BERT"]
    assert (bert.preset, bert.max_length, bert.batch_size, bert.learning_rate, bert.epochs) == (
        "bert_base_zh", 128, 24, 2e-5, 5)
    assert quick["Chinese BERT"].preset == "" and quick["Chinese BERT"].epochs <= 10
    linear = paper["Linear baseline"]
    assert linear.model_args == {"units": 50, "num_layers": 4, "negative_slope": 0.1, "dropout": 0.5,
                                 "input_mode": "multi_hot"}
    # "2000 epochs and each time with a random mini batch": 2,000 random mini-batches, validated
    # (and the best kept) every 100; the quick profile trains the same.
    for profile in (paper, quick):
        linear = profile["Linear baseline"]
        assert linear.epochs * bilimeme.protocol(linear)["steps_per_epoch"] == 2000
        assert bilimeme.protocol(linear)["best_epoch_metric"] == "val_accuracy"
    tuning = paper["Prompt tuning"]
    assert (tuning.batch_size, tuning.learning_rate) == (64, 5e-5)
    assert tuning.paper_metrics == {"acc_at_1": 0.151, "acc_at_3": 0.156}
    assert paper["Prompt 4: internet meme classification"].paper_metrics == {"acc_at_1": 0.145, "acc_at_3": 0.158}
    for config in [*paper.values(), *quick.values()]:
        assert config.paper == "bilimeme" and config.dataset == "danmu" and config.paper_metrics
        if config.model == bilimeme.PROMPT_MODEL:
            # Length-fair: the mean per-token log-likelihood ranks the candidates.
            assert bilimeme.protocol(config)["score"] == "mean"
    # The LM is a config value: the paper profile names a keras-hub preset, the quick one a tiny random LM.
    assert paper["Prompt tuning"].preset and not quick["Prompt tuning"].preset
    # Table 2: [question]\n[choice]\n[answer], the choices being the 5 main categories.
    questions = []
    for name, config in paper.items():
        if config.model == bilimeme.PROMPT_MODEL:
            question, choice, answer = bilimeme.protocol(config)["template"].split("\n")
            assert choice == "选项：" + "，".join(bilimeme.candidate_names()) and answer == "答案："
            assert question.count("[A]") == 1
            questions.append(question)
    assert questions == ["[A]属于哪个分区？", "文本分类：[A]", "弹幕分类：[A]", "网络语言分类：[A]", "[A]"]
    assert bilimeme.candidate_names() == ["动画", "音乐舞蹈", "知识", "生活", "影视"]


def test_validation_every_few_epochs_is_stretched_for_plotting():
    history = {"loss": [6, 5, 4, 3, 2, 1], "val_loss": [9, 8, 7]}  # validated after epochs 2, 4, 6
    filled = bilimeme._fill_validation(history, every=2)
    assert np.isnan(filled["val_loss"][0]) and filled["val_loss"][1:] == [9, 9, 8, 8, 7]
    assert filled["loss"] == history["loss"] and bilimeme._fill_validation(history, every=1) == history


# --- the runner's view: validation, epochs, baselines, caches ---------------------


def test_unknown_protocol_keys_and_model_args_are_errors_with_a_did_you_mean():
    paper = get_paper("bilimeme")
    with pytest.raises(config_lib.ConfigError, match=r"unknown protocol key.*'templat' \(did you mean 'template'\?\)"):
        paper.load_configs("quick", ["protocol.templat=x"])
    with pytest.raises(config_lib.ConfigError,
                       match=r"no row of bilimeme takes model_args 'unit' \(did you mean 'units'\?\)"):
        paper.load_configs("quick", ["model_args.unit=8"])
    # Each row's model_args are checked against its own model: BERT's and the tiny LM's sizes pass.
    paper.load_configs("quick", ["model_args.num_layers=1"])
    with pytest.raises(config_lib.ConfigError, match="protocol.score must be one of"):
        paper.load_configs("quick", ["protocol.score=max"], files=[paper.config_paths()[-1]])


def test_zero_shot_rows_plan_no_epochs():
    paper = get_paper("bilimeme")
    planned = {c.system: paper.planned_epochs(u) for c in paper.load_configs("quick") for u in paper.units(c)}
    assert planned["Prompt 1: question"] == planned["Prompt 4: internet meme classification"] == 0
    assert planned["Prompt tuning"] > 0 and planned["Linear baseline"] > 0


def test_baselines_by_hand(tmp_path):
    # Train: game (label 2) is the majority; its main category Animation (anime 1 + game 2) too.
    train = [("上分", 2), ("抽卡", 2), ("手机", 3), ("火锅", 5), ("番剧", 1), ("前方 高能", 6)]
    test = [("上分", 2), ("手机", 3), ("火锅", 5), ("番剧", 1), ("高能", 6)]
    folder = write_processed(tmp_path / "p", {"train": train, "val": train, "test": test})
    data = bilimeme.prepare_danmu(folder)
    paper = get_paper("bilimeme")
    rows = {r["system"]: r for r in paper.baselines(data, paper.load_configs("quick"))}
    six = rows["majority class (game)"]
    assert six["baseline"] and six["metrics"]["accuracy"]["mean"] == pytest.approx(1 / 5)
    main = rows["most frequent main category (Animation)"]
    # Test chats with a main category: 上分, 番剧 (Animation), 手机 (Knowledge), 火锅 (Life).
    assert main["metrics"]["acc_at_1"]["mean"] == pytest.approx(2 / 4)
    assert main["metrics"]["acc_at_3"]["mean"] == pytest.approx(2 / 4)


def test_jieba_cache_defaults_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMOTION_TF_HOME", str(tmp_path / "home"))
    assert bilimeme.jieba_cache_dir() == str(tmp_path / "home" / "jieba")
    assert bilimeme.jieba_cache_dir(str(tmp_path / "mine")) == str(tmp_path / "mine")
    tokenizer = bilimeme.chinese_tokenizer.__wrapped__("", stopwords=None).initialize()
    assert tokenizer.cache_path == str(tmp_path / "home" / "jieba" / "jieba.cache")
    assert os.path.exists(tokenizer.cache_path)
