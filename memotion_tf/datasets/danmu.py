"""Bilibili bullet chats (danmu), BiliMemeNet: read both released forms, write them synthetically.

Raw table (one CSV, `danmu.csv` when a folder is given):

    <index>, Bullet Chat, Frequency, Source Video Title, Category ID, Channel ID,
    Source Video View Count

Older dumps (the paper's Figure 1) name the text column `danmu` and add `BVID`.
One row is one chat in one video; `Category ID` is the video's Bilibili
sub-category id (tid), e.g. 27 or 214. Only the text, `Frequency` and
`Category ID` are read; the other columns are carried for completeness.

Processed 6-class split (a folder): `train.csv`, `val.csv`, `test.csv` with
columns `text,label`, label 1..6 = anime, game, technology, life, food, general.

Labels returned by the readers are 0-based indices into `class_names` (the
processed files' label 1 is index 0), so they feed
`SparseCategoricalCrossentropy` directly; the writer writes 1-based labels, as
the released files have them.

Label rule for the raw table (paper section 4.1): a chat's frequency is summed
per category over all its rows (videos); the chat takes the category where that
sum is highest. Ties go to the category listed first in the class order
(`CATEGORIES`, `MAIN_CATEGORIES` or `SIX_CLASSES`), so the label never depends
on row order. At the main-category level the sums are first added up per main
category (section 6.2.2) and the highest main category wins; this can differ
from mapping the 21-category label to its main category.
"""

import dataclasses
import os
import string

import numpy as np
import pandas as pd

from memotion_tf.datasets.common import DataError, read_csv
from memotion_tf.io import atomic_output_dir

RAW_FILE = "danmu.csv"
SPLITS = ("train", "val", "test")
TEXT_COLUMNS = ("Bullet Chat", "danmu")  # current dumps first, then older ones
FREQUENCY_COLUMN = "Frequency"
CATEGORY_COLUMN = "Category ID"
RAW_COLUMNS = {
    "current": ("Bullet Chat", "Frequency", "Source Video Title", "Category ID", "Channel ID",
                "Source Video View Count"),
    "old": ("danmu", "Frequency", "BVID", "Source Video Title", "Category ID"),
}

# --------------------------------------------------------------------------
# Category tables.
# --------------------------------------------------------------------------

# The paper's 21 categories, in the order of its Table 1 (English names as the
# paper translates them). They are Bilibili's 21 video main zones of the time.
CATEGORIES = (
    "Animation", "Anime", "Chinese Anime", "Game", "Remix",
    "Music", "Dance",
    "Knowledge", "Technology",
    "Sports", "Cars", "Life", "Food", "Animals", "Fashion", "News", "Entertainment",
    "Movies and Television", "Movie", "Television", "Documentary",
)
CHINESE_NAMES = {
    "Animation": "动画", "Anime": "番剧", "Chinese Anime": "国创", "Game": "游戏",
    "Remix": "鬼畜", "Music": "音乐", "Dance": "舞蹈", "Knowledge": "知识",
    "Technology": "科技", "Sports": "运动", "Cars": "汽车", "Life": "生活", "Food": "美食",
    "Animals": "动物圈", "Fashion": "时尚", "News": "资讯", "Entertainment": "娱乐",
    "Movies and Television": "影视", "Movie": "电影", "Television": "电视剧",
    "Documentary": "纪录片",
}

# Table 1: 21 categories -> 5 main categories of the prompt experiments. The
# Chinese names are the ones the paper's prompts offer as choices (Table 2).
MAIN_CATEGORIES = ("Animation", "Music and Dance", "Knowledge", "Life", "Movie")
MAIN_CHINESE_NAMES = {
    "Animation": "动画", "Music and Dance": "音乐舞蹈", "Knowledge": "知识", "Life": "生活",
    "Movie": "影视",
}
MAIN_MEMBERS = {
    "Animation": ("Animation", "Anime", "Chinese Anime", "Game", "Remix"),
    "Music and Dance": ("Music", "Dance"),
    "Knowledge": ("Knowledge", "Technology"),
    "Life": ("Sports", "Cars", "Life", "Food", "Animals", "Fashion", "News", "Entertainment"),
    "Movie": ("Movies and Television", "Movie", "Television", "Documentary"),
}
CATEGORY_TO_MAIN = {c: main for main, members in MAIN_MEMBERS.items() for c in members}

# Section 6.3.4: the 6-class scheme picks five of the 21 categories
# ('动画', '游戏', '科技', '生活', '美食') and adds "general" for chats that appear
# in more than 3 categories. Label 1..6 in the processed files.
SIX_CLASSES = ("anime", "game", "technology", "life", "food", "general")
SIX_CLASS_SOURCES = ("Animation", "Game", "Technology", "Life", "Food")  # '动画' is "Animation" (tid 1)
GENERAL_THRESHOLD = 3  # "appeared in more than 3 major categories"

# Bilibili tids. The paper gives only the category names and, in Figure 1, the
# sub-category ids 27 (动画 > 综合) and 214 (美食 > 田园美食); 47 (动画 >
# 短片·手书·配音) appears in the released table. Every other id below is our
# mapping from Bilibili's public zone list (main zone id first, then its
# sub-zones), not something the paper states.
ZONE_TIDS = {
    "Animation": 1, "Anime": 13, "Chinese Anime": 167, "Game": 4, "Remix": 119,
    "Music": 3, "Dance": 129, "Knowledge": 36, "Technology": 188, "Sports": 234,
    "Cars": 223, "Life": 160, "Food": 211, "Animals": 217, "Fashion": 155, "News": 202,
    "Entertainment": 5, "Movies and Television": 181, "Movie": 23, "Television": 11,
    "Documentary": 177,
}
SUB_TIDS = {
    "Animation": (24, 25, 47, 210, 86, 253, 27),
    "Anime": (51, 152, 32, 33),
    "Chinese Anime": (153, 168, 169, 170, 195),
    "Game": (17, 171, 172, 65, 173, 121, 136, 19),
    "Remix": (22, 26, 126, 216, 127),
    "Music": (28, 31, 30, 59, 193, 29, 130, 243, 244),
    "Dance": (20, 154, 156, 198, 199, 200),
    "Knowledge": (201, 124, 228, 207, 208, 209, 229, 122),
    "Technology": (95, 230, 231, 232, 233),
    "Sports": (235, 249, 164, 236, 237, 238),
    "Cars": (245, 246, 247, 248, 240, 227, 176),
    "Life": (138, 250, 251, 239, 161, 162, 21, 254),
    "Food": (76, 212, 213, 214, 215),
    "Animals": (218, 219, 220, 221, 222, 75),
    "Fashion": (157, 252, 158, 159),
    "News": (203, 204, 205, 206),
    "Entertainment": (71, 241, 242, 137),
    "Movies and Television": (182, 183, 85, 184),
    "Movie": (147, 145, 146, 83),
    "Television": (185, 187),
    "Documentary": (37, 178, 179, 180),
}
# Sub-zones Bilibili retired or redirected before or around the crawl (2021-22);
# older videos may still carry them. Also our mapping, to the zone that took them over.
RETIRED_SUB_TIDS = {
    "Music": (194,),
    "Knowledge": (39, 96, 98),
    "Technology": (189, 190, 191),
    "Sports": (163,),
    "Cars": (224, 225, 226),
    "Life": (174,),
    "Fashion": (192,),
    "Entertainment": (131,),
}


def _tid_table():
    table = {}
    for source in ({c: (t,) for c, t in ZONE_TIDS.items()}, SUB_TIDS, RETIRED_SUB_TIDS):
        for category, tids in source.items():
            for tid in tids:
                if table.get(tid, category) != category:
                    raise AssertionError(f"tid {tid} mapped to both {table[tid]} and {category}")
                table[tid] = category
    return table


TID_TO_CATEGORY = _tid_table()
LEVELS = ("category", "main", "six")


def class_names(level):
    """The classes a reader's labels index, for `level` in LEVELS."""
    if level == "category":
        return CATEGORIES
    if level == "main":
        return MAIN_CATEGORIES
    if level == "six":
        return SIX_CLASSES
    raise ValueError(f"unknown danmu label level {level!r}; expected one of {LEVELS}")


def _main_matrix():
    """[21, 5] 0/1 matrix: category i belongs to main category j."""
    matrix = np.zeros((len(CATEGORIES), len(MAIN_CATEGORIES)), np.int64)
    for i, category in enumerate(CATEGORIES):
        matrix[i, MAIN_CATEGORIES.index(CATEGORY_TO_MAIN[category])] = 1
    return matrix


@dataclasses.dataclass
class DanmuData:
    """Chats that passed validation, one row per chat.

    `frame` has columns `row` (1-based data row of the file; for the raw table
    the first row where the chat occurs), `text` and `label` (0-based index into
    `class_names`). For the raw table at the `category` and `main` levels,
    `scores[i, j]` is chat i's summed frequency under class j: the ground-truth
    distribution behind `evaluation.topk.acc_at_k` (section 6.2.2; normalising it
    to probabilities changes no ranking). `dropped` counts chats left out:
    those `normalize` emptied and, at the `six` level, chats seen in none of the
    five picked categories.
    """

    frame: pd.DataFrame
    class_names: tuple
    level: str
    source: str
    scores: np.ndarray = None
    dropped: int = 0


# --------------------------------------------------------------------------
# Raw table.
# --------------------------------------------------------------------------


def _first_bad(mask):
    """0-based position of the first True in a boolean Series, or None."""
    positions = np.flatnonzero(np.asarray(mask))
    return int(positions[0]) if len(positions) else None


def _validate_raw(raw, path):
    """Strings -> (texts, category indices, frequencies); raise DataError at the
    earliest bad row (row = 1-based data row)."""
    text_column = next((c for c in TEXT_COLUMNS if c in raw.columns), None)
    if text_column is None:
        raise DataError(
            f"missing the bullet-chat column (one of {list(TEXT_COLUMNS)}); found {list(raw.columns)}",
            file=path,
        )
    texts = raw[text_column].str.strip()
    freq = raw[FREQUENCY_COLUMN].str.strip()
    tids = raw[CATEGORY_COLUMN].str.strip()
    problems = []  # (position, column order, column, message)

    i = _first_bad(texts.eq(""))
    if i is not None:
        problems.append((i, 0, text_column, "empty bullet chat"))

    # At most 18 digits, so every accepted value fits in int64.
    not_int = ~freq.str.fullmatch(r"\d{1,18}")
    i = _first_bad(not_int)
    if i is not None:
        problems.append((
            i, 1, FREQUENCY_COLUMN,
            f"frequency {raw[FREQUENCY_COLUMN].iloc[i]!r} is not an integer (of at most 18 digits)",
        ))
    frequencies = np.array([int(v) if ok else 0 for v, ok in zip(freq, ~not_int)], np.int64)
    i = _first_bad(~not_int & (frequencies < 1))
    if i is not None:
        problems.append((i, 1, FREQUENCY_COLUMN, f"frequency {frequencies[i]} is not positive"))

    tid_not_int = ~tids.str.fullmatch(r"\d+")
    i = _first_bad(tid_not_int)
    if i is not None:
        problems.append((i, 2, CATEGORY_COLUMN, f"category id {raw[CATEGORY_COLUMN].iloc[i]!r} is not an integer"))
    index_of = {str(tid): CATEGORIES.index(c) for tid, c in TID_TO_CATEGORY.items()}
    categories = tids.str.lstrip("0").map(index_of)
    i = _first_bad(~tid_not_int & categories.isna())
    if i is not None:
        problems.append((
            i, 2, CATEGORY_COLUMN,
            f"unknown Bilibili category id {tids.iloc[i]}: not one of the paper's 21 categories "
            "(see danmu.TID_TO_CATEGORY)",
        ))

    if problems:
        i, _, column, message = min(problems)
        raise DataError(message, file=path, row=i + 1, column=column)
    return texts, categories.to_numpy(np.int64), frequencies


def aggregate_chats(texts, categories, frequencies):
    """Sum frequencies per (chat, category).

    Returns (unique texts in order of first appearance, 0-based position of each
    one's first row, [n_chats, 21] int64 matrix of summed frequencies).
    """
    codes, uniques = pd.factorize(pd.Series(texts, dtype=object), sort=False)
    counts = np.zeros((len(uniques), len(CATEGORIES)), np.int64)
    np.add.at(counts, (codes, np.asarray(categories)), np.asarray(frequencies, np.int64))
    first = np.full(len(uniques), len(codes), np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return list(uniques), first, counts


def label_chats(counts, level, general_threshold=GENERAL_THRESHOLD):
    """Labels from the [n, 21] summed-frequency matrix of `aggregate_chats`.

    Returns (labels, keep mask, scores or None). `np.argmax` takes the first of
    tied maxima, i.e. the class listed first.

    The `six` level restricts each chat to the five picked categories; a chat
    seen in more than `general_threshold` of them is "general", any other takes
    the picked category where it is most frequent, and a chat seen in none of
    them is dropped. The paper does not say whether "more than 3 categories"
    counts all 21 or the five picked; we count the picked ones (the data was
    restricted to them first).
    """
    counts = np.asarray(counts, np.int64)
    if level == "category":
        scores = counts
    elif level == "main":
        scores = counts @ _main_matrix()
    elif level == "six":
        picked = counts[:, [CATEGORIES.index(c) for c in SIX_CLASS_SOURCES]]
        present = picked > 0
        keep = present.any(axis=1)
        general = present.sum(axis=1) > general_threshold
        labels = np.where(general, SIX_CLASSES.index("general"), picked.argmax(axis=1))
        return labels.astype(np.int64), keep, None
    else:
        class_names(level)  # raises
    return scores.argmax(axis=1).astype(np.int64), np.ones(len(scores), bool), scores


def read_danmu_raw(path, level="category", normalize=None, general_threshold=GENERAL_THRESHOLD):
    """Read the raw bullet-chat table and label each distinct chat.

    Args:
        path: the CSV, or a folder holding `danmu.csv`.
        level: "category" (the 21 categories), "main" (Table 1's 5 main
            categories) or "six" (the 6-class scheme of section 6.3.4).
        normalize: optional callable str -> str applied to each chat before
            counting (the paper counted jieba-tokenised chats, e.g.
            `ChineseTokenizer(...)`); chats it empties are dropped.
        general_threshold: the `six` level's "more than N categories".

    Returns:
        DanmuData. Raises DataError naming file, row and column for an empty
        chat, a non-integer or non-positive frequency, or a category id outside
        the 21 categories.
    """
    names = class_names(level)
    if os.path.isdir(path):
        path = os.path.join(path, RAW_FILE)
    raw = read_csv(path, [FREQUENCY_COLUMN, CATEGORY_COLUMN])
    texts, categories, frequencies = _validate_raw(raw, path)
    texts = list(texts)
    emptied = np.zeros(len(texts), bool)
    if normalize is not None:
        normalized = [normalize(t).strip() for t in texts]
        emptied = np.array([not t for t in normalized], bool)
        dropped = len({t for t, e in zip(texts, emptied) if e})
        texts = normalized
    else:
        dropped = 0
    kept = np.flatnonzero(~emptied)
    uniques, first, counts = aggregate_chats(
        [texts[i] for i in kept], categories[kept], frequencies[kept]
    )
    labels, keep, scores = label_chats(counts, level, general_threshold)
    frame = pd.DataFrame({"row": kept[first] + 1, "text": uniques, "label": labels})
    frame = frame[keep].reset_index(drop=True)
    dropped += int((~keep).sum())
    return DanmuData(frame=frame, class_names=names, level=level, source=path, scores=scores,
                     dropped=dropped)


# --------------------------------------------------------------------------
# Processed 6-class split.
# --------------------------------------------------------------------------


def read_danmu_split(path):
    """Read one processed split (`text,label`, label 1..6) as 0-based labels."""
    raw = read_csv(path, ["text", "label"])
    texts = raw["text"].str.strip()
    allowed = {str(i): i - 1 for i in range(1, len(SIX_CLASSES) + 1)}
    labels = raw["label"].str.strip().map(allowed)
    bad_label = _first_bad(labels.isna())
    empty = _first_bad(texts.eq(""))
    if bad_label is not None and (empty is None or bad_label <= empty):
        raise DataError(
            f"label {raw['label'].iloc[bad_label]!r} is not one of 1..{len(SIX_CLASSES)} "
            f"({', '.join(f'{i + 1}={n}' for i, n in enumerate(SIX_CLASSES))})",
            file=path, row=bad_label + 1, column="label",
        )
    if empty is not None:
        raise DataError("empty text", file=path, row=empty + 1, column="text")
    frame = pd.DataFrame({
        "row": np.arange(1, len(raw) + 1), "text": texts, "label": labels.astype(np.int64),
    })
    return DanmuData(frame=frame, class_names=SIX_CLASSES, level="six", source=path)


def read_danmu_processed(data_dir, splits=SPLITS):
    """Read `train.csv / val.csv / test.csv` of a folder: {split: DanmuData}."""
    if not os.path.isdir(data_dir):
        raise DataError("expected the folder holding train.csv, val.csv and test.csv", file=data_dir)
    return {split: read_danmu_split(os.path.join(data_dir, f"{split}.csv")) for split in splits}


# --------------------------------------------------------------------------
# Synthetic copy in the same layout.
# --------------------------------------------------------------------------

# Words whose presence carries each category. None is in the stopwords-iso
# Chinese list (checked by tests/test_danmu.py), so they survive tokenisation.
SIGNAL_WORDS = {
    "Animation": ("动画", "作画", "手书", "配音", "手办", "特摄"),
    "Anime": ("番剧", "追番", "新番", "完结撒花", "声优", "老婆"),
    "Chinese Anime": ("国漫", "国创", "布袋戏", "国产动画", "广播剧"),
    "Game": ("游戏", "通关", "手游", "电竞", "上分", "抽卡"),
    "Remix": ("鬼畜", "调教", "洗脑", "全体起立", "鬼畜区"),
    "Music": ("音乐", "翻唱", "旋律", "演奏", "单曲循环", "耳朵怀孕"),
    "Dance": ("舞蹈", "宅舞", "街舞", "翻跳", "舞姿", "长腿"),
    "Knowledge": ("知识", "科普", "历史", "涨知识", "课代表", "学到了"),
    "Technology": ("科技", "数码", "手机", "芯片", "电脑", "极客"),
    "Sports": ("篮球", "足球", "健身", "进球", "冠军", "比赛"),
    "Cars": ("汽车", "开车", "发动机", "赛车", "电动车", "油耗"),
    "Life": ("生活", "日常", "搞笑", "三农", "装修", "手工"),
    "Food": ("美食", "好吃", "做饭", "火锅", "饿了", "下饭"),
    "Animals": ("猫猫", "狗狗", "熊猫", "喵星人", "可爱", "铲屎官"),
    "Fashion": ("时尚", "穿搭", "化妆", "口红", "美妆", "衣服"),
    "News": ("新闻", "资讯", "热点", "社会", "环球", "记者"),
    "Entertainment": ("综艺", "明星", "娱乐圈", "爱豆", "饭圈", "内娱"),
    "Movies and Television": ("影视", "影评", "预告", "演技", "剪辑", "花絮"),
    "Movie": ("电影", "影院", "票房", "导演", "大片", "首映"),
    "Television": ("电视剧", "追剧", "国产剧", "大结局", "主角", "剧情"),
    "Documentary": ("纪录片", "自然", "军事", "探索", "人文", "野生"),
}
# Site-wide memes: these chats turn up under many categories.
GENERAL_CHATS = (
    "前方高能", "awsl", "2333", "泪目", "打卡", "来了来了", "爷青回", "下次一定", "妙啊",
    "好家伙", "绝了", "离谱", "名场面", "合影", "空降成功",
)
FILLER_WORDS = ("真的", "太", "这个", "就是", "我", "大家", "今天", "又", "好", "一起")
PARTICLES = ("", "", "啊", "了", "吧", "的")
ENDINGS = ("", "", "", "！", "？？", "。", "~")
# Rough share of each category in the crawl: the five 6-class categories are
# drawn more often, so the processed split is not tiny.
_CATEGORY_WEIGHTS = np.array([3.0 if c in SIX_CLASS_SOURCES else 1.0 for c in CATEGORIES])


def _chat_text(rng, category, reliability):
    """A short chat: 1-2 words of `category` (of a random category with
    probability 1 - reliability), filler, a particle and an ending."""
    if rng.random() >= reliability:
        category = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
    words = list(rng.choice(SIGNAL_WORDS[category], size=int(rng.integers(1, 3)), replace=False))
    for _ in range(int(rng.integers(0, 3))):
        words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(FILLER_WORDS)))
    return "".join(words) + str(rng.choice(PARTICLES)) + str(rng.choice(ENDINGS))


def _split_total(rng, total):
    """Split a positive total into 1-3 positive parts (one per video)."""
    parts = int(min(total, rng.integers(1, 4)))
    cuts = np.sort(rng.choice(np.arange(1, total), size=parts - 1, replace=False)) if parts > 1 else []
    return np.diff(np.concatenate([[0], cuts, [total]])).astype(int).tolist()


def _synthetic_rows(rng, size, text_reliability, general_share, shared_share):
    """Raw-table rows as (text, frequency, category index, video) tuples."""
    probabilities = _CATEGORY_WEIGHTS / _CATEGORY_WEIGHTS.sum()
    picked = [CATEGORIES.index(c) for c in SIX_CLASS_SOURCES]
    others = [i for i in range(len(CATEGORIES)) if i not in picked]
    videos = {}
    rows = []

    def video(category):
        # A handful of videos per category, each with its own sub-category id.
        pool = videos.setdefault(category, [])
        if len(pool) < 4 or rng.random() < 0.2:
            name = CATEGORIES[category]
            tid = int(rng.choice(SUB_TIDS[name]))
            bvid = "BV1" + "".join(rng.choice(list(string.ascii_letters + string.digits), size=9))
            title = "".join(rng.choice(SIGNAL_WORDS[name], size=2)) + str(rng.choice(("合集", "挑战", "第一期", "名场面")))
            pool.append((tid, ZONE_TIDS[name], bvid, title, int(rng.integers(10_000, 5_000_000))))
        return pool[int(rng.integers(len(pool)))]

    for _ in range(size):
        if rng.random() < general_share:
            # A meme shared by 4-5 picked categories and a few others, with
            # different frequencies in each.
            text = str(rng.choice(GENERAL_CHATS)) + str(rng.choice(ENDINGS))
            chosen = list(rng.choice(picked, size=int(rng.integers(4, 6)), replace=False))
            chosen += list(rng.choice(others, size=int(rng.integers(0, 4)), replace=False))
            totals = {int(c): int(rng.integers(1, 40)) for c in chosen}
        else:
            home = int(rng.choice(len(CATEGORIES), p=probabilities))
            text = _chat_text(rng, CATEGORIES[home], text_reliability)
            totals = {}
            if rng.random() < shared_share:
                # Also seen, less often, under 1-2 other categories.
                for c in rng.choice([i for i in range(len(CATEGORIES)) if i != home],
                                    size=int(rng.integers(1, 3)), replace=False):
                    totals[int(c)] = int(rng.integers(1, 10))
            totals[home] = max(totals.values(), default=0) + int(rng.integers(1, 25))
        for category, total in totals.items():
            for frequency in _split_total(rng, total):
                rows.append((text, frequency, category, video(category)))
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def write_synthetic_danmu(
    out_dir, size=2000, seed=0, form="both", raw_style="current", text_reliability=0.85,
    general_share=0.12, shared_share=0.3, split_fractions=(0.72, 0.08, 0.2),
):
    """Write a synthetic copy in the released layout.

    `size` chats are drawn; each appears under one or more categories in one to
    three videos (rows) each, so the raw table has more rows than chats and
    distinct draws can repeat a text, as real chats do. A chat's words come from
    its category's `SIGNAL_WORDS` with probability `text_reliability`; a share
    of chats is also seen under other categories (less often), and
    `general_share` are site-wide memes seen under 4-5 of the picked categories.

    form: "raw" writes `danmu.csv`; "processed" writes train/val/test.csv,
    labelled from the same table by the reader's rule (`label_chats(..., "six")`)
    and split by `split_fractions` (the paper's ~108k / 12k / 30k); "both"
    writes all four. raw_style: "current" or "old" column names (RAW_COLUMNS).
    The folder is written atomically and replaces `out_dir` as a whole.

    The folder is written with `io.atomic_output_dir`: an existing `out_dir`
    is replaced only if memotion-tf wrote it (its `.memotion-tf` marker) and
    it holds nothing else; a file, or a folder holding anything memotion-tf
    did not write, is refused with `io.OutputError` before anything is written.
    """
    if form not in ("raw", "processed", "both"):
        raise ValueError(f"form must be 'raw', 'processed' or 'both', not {form!r}")
    if raw_style not in RAW_COLUMNS:
        raise ValueError(f"raw_style must be one of {sorted(RAW_COLUMNS)}, not {raw_style!r}")
    rng = np.random.default_rng(seed)
    rows = _synthetic_rows(rng, size, text_reliability, general_share, shared_share)

    with atomic_output_dir(out_dir, purpose="synthetic danmu data set") as tmp:
        if form in ("raw", "both"):
            text_column = RAW_COLUMNS[raw_style][0]
            values = {
                text_column: [r[0] for r in rows],
                "Frequency": [r[1] for r in rows],
                "BVID": [r[3][2] for r in rows],
                "Source Video Title": [r[3][3] for r in rows],
                "Category ID": [r[3][0] for r in rows],
                "Channel ID": [r[3][1] for r in rows],
                "Source Video View Count": [r[3][4] for r in rows],
            }
            table = pd.DataFrame({c: values[c] for c in RAW_COLUMNS[raw_style]})
            table.to_csv(os.path.join(tmp, RAW_FILE), index=True)
        if form in ("processed", "both"):
            texts, first, counts = aggregate_chats(
                [r[0] for r in rows], [r[2] for r in rows], [r[1] for r in rows]
            )
            labels, keep, _ = label_chats(counts, "six")
            chats = pd.DataFrame({"text": texts, "label": labels + 1})[keep]
            chats = chats.iloc[rng.permutation(len(chats))].reset_index(drop=True)
            bounds = np.round(np.cumsum(split_fractions) / np.sum(split_fractions) * len(chats))
            starts = np.concatenate([[0], bounds[:-1]]).astype(int)
            for split, start, stop in zip(SPLITS, starts, bounds.astype(int)):
                chats.iloc[start:stop].to_csv(os.path.join(tmp, f"{split}.csv"), index=False)
    return out_dir
