import os

import numpy as np
import pandas as pd
import pytest

from memotion_tf.datasets import danmu
from memotion_tf.datasets.common import DataError

HEADER = ",Bullet Chat,Frequency,Source Video Title,Category ID,Channel ID,Source Video View Count\n"
# A hand-made raw table. Category ids: 27 Animation, 213/214/76 Food,
# 171 Game, 95 Technology, 28 Music, 234 Sports, 21 Life.
TABLE = [
    ("哈哈哈", 3, 27),   # Animation 3
    ("哈哈哈", 2, 214),  # Food 2 ...
    ("上分", 5, 171),    # Game 5
    ("哈哈哈", 2, 213),  # ... + 2 = 4 > 3: Food wins on the sum, not the biggest row
    ("上分", 5, 95),     # Technology 5: tie with Game -> Game (listed first)
    ("做饭", 1, 76),     # Food
    ("绝了", 5, 28),     # Music 5 (category level) but Life 3 + 3 = 6 (main level)
    ("绝了", 3, 234),
    ("绝了", 3, 214),
    ("awsl", 1, 27),     # four of the five picked categories -> "general"
    ("awsl", 2, 171),
    ("awsl", 1, 95),
    ("awsl", 1, 21),
    ("翻唱", 4, 28),     # Music only: not in the 6-class scheme
]


def write_table(path, rows, header=HEADER):
    lines = [header] + [
        f"{i},{text},{freq},video {i},{tid},0,100\n" for i, (text, freq, tid) in enumerate(rows)
    ]
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def labels_by_text(data):
    return {t: data.class_names[l] for t, l in zip(data.frame["text"], data.frame["label"])}


# --- category tables ---------------------------------------------------------


def test_every_one_of_21_categories_maps_to_one_of_5():
    assert len(danmu.CATEGORIES) == 21 and len(set(danmu.CATEGORIES)) == 21
    assert set(danmu.CATEGORY_TO_MAIN) == set(danmu.CATEGORIES)
    assert set(danmu.CATEGORY_TO_MAIN.values()) == set(danmu.MAIN_CATEGORIES)
    members = [c for group in danmu.MAIN_MEMBERS.values() for c in group]
    assert sorted(members) == sorted(danmu.CATEGORIES)  # each exactly once
    assert [len(danmu.MAIN_MEMBERS[m]) for m in danmu.MAIN_CATEGORIES] == [5, 2, 2, 8, 4]


def test_merge_map_examples_by_hand():
    assert danmu.CATEGORY_TO_MAIN["Game"] == "Animation"
    assert danmu.CATEGORY_TO_MAIN["Remix"] == "Animation"
    assert danmu.CATEGORY_TO_MAIN["Dance"] == "Music and Dance"
    assert danmu.CATEGORY_TO_MAIN["Technology"] == "Knowledge"
    assert danmu.CATEGORY_TO_MAIN["Food"] == "Life"
    assert danmu.CATEGORY_TO_MAIN["Cars"] == "Life"
    assert danmu.CATEGORY_TO_MAIN["Documentary"] == "Movie"
    assert danmu.CATEGORY_TO_MAIN["Television"] == "Movie"


def test_tid_table():
    # The ids the paper's Figure 1 and the released table show.
    assert danmu.TID_TO_CATEGORY[27] == "Animation"
    assert danmu.TID_TO_CATEGORY[47] == "Animation"
    assert danmu.TID_TO_CATEGORY[214] == "Food"
    for category, tid in danmu.ZONE_TIDS.items():
        assert danmu.TID_TO_CATEGORY[tid] == category
        assert all(danmu.TID_TO_CATEGORY[t] == category for t in danmu.SUB_TIDS[category])
    assert set(danmu.TID_TO_CATEGORY.values()) == set(danmu.CATEGORIES)
    assert len(danmu.SIX_CLASSES) == 6 and danmu.SIX_CLASSES[-1] == "general"
    assert set(danmu.SIX_CLASS_SOURCES) <= set(danmu.CATEGORIES)


# --- raw table: the labelling rule ------------------------------------------


def test_most_frequent_category_rule(tmp_path):
    data = danmu.read_danmu_raw(write_table(tmp_path / "danmu.csv", TABLE))
    assert data.class_names == danmu.CATEGORIES
    assert labels_by_text(data) == {
        "哈哈哈": "Food", "上分": "Game", "做饭": "Food", "绝了": "Music", "awsl": "Game",
        "翻唱": "Music",
    }
    # One row per chat, in order of first appearance, with its first data row.
    assert data.frame["row"].tolist() == [1, 3, 6, 7, 10, 14]
    food, animation = danmu.CATEGORIES.index("Food"), danmu.CATEGORIES.index("Animation")
    assert data.scores[0, food] == 4 and data.scores[0, animation] == 3 and data.scores[0].sum() == 7


def test_main_level_sums_before_argmax(tmp_path):
    data = danmu.read_danmu_raw(write_table(tmp_path / "danmu.csv", TABLE), level="main")
    labels = labels_by_text(data)
    assert labels["哈哈哈"] == "Life"       # Animation 3 vs Life 4
    assert labels["上分"] == "Animation"    # Animation 5 vs Knowledge 5: tie -> first
    assert labels["绝了"] == "Life"         # Music and Dance 5 vs Life 3 + 3
    assert data.scores.shape == (6, 5)
    assert data.scores[3].tolist() == [0, 5, 0, 6, 0]


def test_six_class_level(tmp_path):
    data = danmu.read_danmu_raw(write_table(tmp_path / "danmu.csv", TABLE), level="six")
    assert data.class_names == danmu.SIX_CLASSES
    assert labels_by_text(data) == {
        "哈哈哈": "food", "上分": "game", "做饭": "food", "绝了": "food", "awsl": "general",
    }
    assert data.dropped == 1  # 翻唱: Music only


def test_old_dump_column_names(tmp_path):
    header = ",danmu,Frequency,BVID,Source Video Title,Category ID\n"
    lines = [header] + [
        f"{i},{text},{freq},BV1xxxxxxxx{i},video,{tid}\n" for i, (text, freq, tid) in enumerate(TABLE)
    ]
    path = tmp_path / "old.csv"
    path.write_text("".join(lines), encoding="utf-8")
    assert labels_by_text(danmu.read_danmu_raw(str(path)))["哈哈哈"] == "Food"


def test_normalize_merges_chats(tmp_path):
    rows = [("好吃！", 2, 27), ("好吃", 3, 214), ("！", 5, 27)]
    data = danmu.read_danmu_raw(
        write_table(tmp_path / "danmu.csv", rows), normalize=lambda t: t.replace("！", "")
    )
    assert labels_by_text(data) == {"好吃": "Food"}
    assert data.dropped == 1


# --- raw table: bad input, one test each ------------------------------------


def test_raw_unknown_category_id(tmp_path):
    path = write_table(tmp_path / "danmu.csv", [("哈哈", 1, 27), ("哈哈", 1, 999)])
    with pytest.raises(DataError, match="unknown Bilibili category id 999") as e:
        danmu.read_danmu_raw(path)
    assert (e.value.file, e.value.row, e.value.column) == (path, 2, "Category ID")


def test_raw_non_integer_category_id(tmp_path):
    path = write_table(tmp_path / "danmu.csv", [("哈哈", 1, "game")])
    with pytest.raises(DataError, match="not an integer") as e:
        danmu.read_danmu_raw(path)
    assert (e.value.row, e.value.column) == (1, "Category ID")


def test_raw_non_integer_frequency(tmp_path):
    path = write_table(tmp_path / "danmu.csv", [("哈哈", 1, 27), ("好", 2, 27), ("哈哈", "2.5", 27)])
    with pytest.raises(DataError, match="'2.5' is not an integer") as e:
        danmu.read_danmu_raw(path)
    assert (e.value.file, e.value.row, e.value.column) == (path, 3, "Frequency")


def test_raw_zero_frequency(tmp_path):
    path = write_table(tmp_path / "danmu.csv", [("哈哈", 0, 27)])
    with pytest.raises(DataError, match="not positive") as e:
        danmu.read_danmu_raw(path)
    assert (e.value.row, e.value.column) == (1, "Frequency")


def test_raw_empty_text(tmp_path):
    path = write_table(tmp_path / "danmu.csv", [("哈哈", 1, 27), ("  ", 1, 27)])
    with pytest.raises(DataError, match="empty bullet chat") as e:
        danmu.read_danmu_raw(path)
    assert (e.value.file, e.value.row, e.value.column) == (path, 2, "Bullet Chat")


def test_raw_reports_earliest_bad_row(tmp_path):
    path = write_table(tmp_path / "danmu.csv", [("哈哈", 1, 27), ("哈哈", 1, 999), ("", 1, 27)])
    with pytest.raises(DataError) as e:
        danmu.read_danmu_raw(path)
    assert (e.value.row, e.value.column) == (2, "Category ID")


def test_raw_missing_text_column(tmp_path):
    path = tmp_path / "danmu.csv"
    path.write_text(",chat,Frequency,Category ID\n0,哈哈,1,27\n", encoding="utf-8")
    with pytest.raises(DataError, match="bullet-chat column"):
        danmu.read_danmu_raw(str(path))


def test_raw_unknown_level(tmp_path):
    with pytest.raises(ValueError, match="unknown danmu label level"):
        danmu.read_danmu_raw(write_table(tmp_path / "danmu.csv", TABLE), level="nine")


# --- processed split: bad input, one test each ------------------------------


def write_split(path, body):
    path.write_text("text,label\n" + body, encoding="utf-8")
    return str(path)


def test_processed_labels_are_zero_based(tmp_path):
    data = danmu.read_danmu_split(write_split(tmp_path / "train.csv", "游戏,2\n哈哈,6\n"))
    assert data.frame["label"].tolist() == [1, 5]
    assert data.frame["row"].tolist() == [1, 2]
    assert data.class_names == danmu.SIX_CLASSES


def test_processed_label_out_of_range(tmp_path):
    path = write_split(tmp_path / "val.csv", "游戏,2\n哈哈,7\n")
    with pytest.raises(DataError, match="'7' is not one of 1..6") as e:
        danmu.read_danmu_split(path)
    assert (e.value.file, e.value.row, e.value.column) == (path, 2, "label")


def test_processed_label_zero(tmp_path):
    path = write_split(tmp_path / "val.csv", "游戏,0\n")
    with pytest.raises(DataError) as e:
        danmu.read_danmu_split(path)
    assert (e.value.row, e.value.column) == (1, "label")


def test_processed_label_not_a_number(tmp_path):
    path = write_split(tmp_path / "test.csv", "游戏,1\n哈哈,1\n吃,food\n")
    with pytest.raises(DataError, match="'food'") as e:
        danmu.read_danmu_split(path)
    assert (e.value.row, e.value.column) == (3, "label")


def test_processed_empty_text(tmp_path):
    path = write_split(tmp_path / "test.csv", "游戏,1\n,3\n")
    with pytest.raises(DataError, match="empty text") as e:
        danmu.read_danmu_split(path)
    assert (e.value.row, e.value.column) == (2, "text")


def test_processed_missing_split(tmp_path):
    write_split(tmp_path / "train.csv", "游戏,1\n")
    with pytest.raises(DataError, match="not found") as e:
        danmu.read_danmu_processed(str(tmp_path))
    assert e.value.file.endswith("val.csv")


# --- synthetic round trip ---------------------------------------------------


def test_synthetic_both_forms_round_trip(tmp_path):
    out = str(tmp_path / "danmu")
    danmu.write_synthetic_danmu(out, size=400, seed=1, form="both")
    assert sorted(os.listdir(out)) == [".memotion-tf", "danmu.csv", "test.csv", "train.csv", "val.csv"]
    raw = danmu.read_danmu_raw(out, level="six")
    splits = danmu.read_danmu_processed(out)
    processed = pd.concat([s.frame for s in splits.values()])
    # The processed form is the raw table labelled by the reader's rule.
    assert sorted(zip(processed["text"], processed["label"])) == sorted(
        zip(raw.frame["text"], raw.frame["label"])
    )
    assert len(splits["train"].frame) > len(splits["test"].frame) > len(splits["val"].frame) > 0
    assert set(splits["train"].frame["label"]) == set(range(6))
    # Chats are shared between categories, with different frequencies.
    category = danmu.read_danmu_raw(out)
    shared = (category.scores > 0).sum(axis=1) > 1
    assert shared.mean() > 0.2
    assert (category.scores[shared].max(axis=1) > np.sort(category.scores[shared], axis=1)[:, -2]).any()


def test_synthetic_words_carry_the_category(tmp_path):
    out = danmu.write_synthetic_danmu(str(tmp_path / "d"), size=400, form="raw")
    data = danmu.read_danmu_raw(out)
    specific = [
        (text, danmu.CATEGORIES[label]) for text, label in zip(data.frame["text"], data.frame["label"])
        if not any(text.startswith(g) for g in danmu.GENERAL_CHATS)
    ]
    hits = [any(w in text for w in danmu.SIGNAL_WORDS[c]) for text, c in specific]
    assert np.mean(hits) > 0.6


def test_synthetic_single_forms_and_old_style(tmp_path):
    raw_dir = danmu.write_synthetic_danmu(str(tmp_path / "raw"), size=60, form="raw", raw_style="old")
    assert sorted(os.listdir(raw_dir)) == [".memotion-tf", "danmu.csv"]
    with open(os.path.join(raw_dir, "danmu.csv"), encoding="utf-8") as f:
        assert f.readline().strip() == ",danmu,Frequency,BVID,Source Video Title,Category ID"
    assert len(danmu.read_danmu_raw(raw_dir).frame) > 0
    processed_dir = danmu.write_synthetic_danmu(str(tmp_path / "p"), size=60, form="processed")
    assert sorted(os.listdir(processed_dir)) == [".memotion-tf", "test.csv", "train.csv", "val.csv"]
    assert len(danmu.read_danmu_processed(processed_dir)["train"].frame) > 0


def test_synthetic_is_deterministic_and_replaces_atomically(tmp_path):
    out = str(tmp_path / "d")
    danmu.write_synthetic_danmu(out, size=50, seed=3, form="raw")
    with open(os.path.join(out, "danmu.csv"), "rb") as f:
        first = f.read()
    danmu.write_synthetic_danmu(out, size=50, seed=3, form="processed")
    assert not os.path.exists(os.path.join(out, "danmu.csv"))  # the folder was replaced whole
    danmu.write_synthetic_danmu(out, size=50, seed=3, form="raw")
    with open(os.path.join(out, "danmu.csv"), "rb") as f:
        assert f.read() == first
    assert [n for n in os.listdir(tmp_path) if n.startswith(".tmp") or n.startswith(".old")] == []


def test_signal_words_survive_stopword_removal():
    from memotion_tf.preprocessing.chinese import load_stopwords

    stopwords = load_stopwords()
    words = [w for ws in danmu.SIGNAL_WORDS.values() for w in ws] + list(danmu.GENERAL_CHATS)
    assert [w for w in words if w in stopwords] == []


def test_raw_absurd_numbers_are_data_errors(tmp_path):
    path = write_table(tmp_path / "danmu.csv", [("哈哈", "1" * 30, 27)])
    with pytest.raises(DataError) as e:
        danmu.read_danmu_raw(path)
    assert (e.value.row, e.value.column) == (1, "Frequency")
    path = write_table(tmp_path / "danmu.csv", [("哈哈", 1, "9" * 30)])
    with pytest.raises(DataError, match="unknown Bilibili category id") as e:
        danmu.read_danmu_raw(path)
    assert (e.value.row, e.value.column) == (1, "Category ID")
