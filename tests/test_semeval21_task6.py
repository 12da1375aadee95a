"""SemEval-2021 Task 6 subtask 3: reader, synthetic writer, official scorer and
prediction files.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m pytest tests/test_semeval21_task6.py -q
"""

import json
import os
import pickle

import cv2
import numpy as np
import pytest

from memotion_tf.datasets.common import DataError, check_images
from memotion_tf.datasets.semeval21_task6 import (
    SPLITS,
    TECHNIQUES,
    multi_hot,
    read_semeval21_task6,
    write_synthetic_semeval21_task6,
)
from memotion_tf.evaluation.semeval21_task6 import (
    check_predictions,
    probabilities_to_labels,
    score,
    write_predictions,
)

SIZES = (30, 8, 10)
LL, NC, SM, TR, DO = "Loaded Language", "Name calling/Labeling", "Smears", "Transfer", "Doubt"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_synthetic_semeval21_task6(tmp_path_factory.mktemp("s21") / "corpus", sizes=SIZES, seed=3)


def _write_split(root, entries, split="train", raw=None):
    """A hand-made split folder with `entries` (or `raw` file text) and one tiny image."""
    folder_name, json_name = SPLITS[split]
    folder = root / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "1_image.png"), np.zeros((8, 8, 3), np.uint8))
    text = raw if raw is not None else json.dumps(entries, ensure_ascii=False)
    (folder / json_name).write_text(text, encoding="utf-8")
    return folder / json_name


def _meme(meme_id="1", labels=(LL,), text="A\n\nB", image="1_image.png"):
    return {"id": meme_id, "labels": list(labels), "text": text, "image": image}


# ---------------------------------------------------------------- techniques


def test_techniques_are_the_22_official_names_in_order():
    assert len(TECHNIQUES) == 22 == len(set(TECHNIQUES))
    assert TECHNIQUES[0] == "Appeal to authority"
    assert TECHNIQUES[11] == "Obfuscation, Intentional vagueness, Confusion"
    assert TECHNIQUES[17] == "Thought-terminating cliché"  # with the accent
    assert TECHNIQUES[-3:] == ("Bandwagon", "Transfer", "Appeal to (Strong) Emotions")


# ---------------------------------------------------- synthetic round trip


def test_synthetic_round_trip_all_splits(corpus):
    all_ids = []
    for split, size in zip(SPLITS, SIZES):
        data = read_semeval21_task6(corpus, split=split)
        frame = data.frame
        folder_name, json_name = SPLITS[split]
        with open(os.path.join(corpus, folder_name, json_name), encoding="utf-8") as f:
            raw = json.load(f)
        assert len(frame) == size == len(raw)
        assert list(frame["row"]) == list(range(1, size + 1))
        assert list(frame["id"]) == [e["id"] for e in raw]
        assert list(frame["text"]) == [e["text"] for e in raw]  # "\n\n" kept verbatim
        assert [list(x) for x in frame["labels"]] == [e["labels"] for e in raw]
        folder = os.path.realpath(os.path.join(corpus, folder_name))
        for path in frame["image_path"]:
            assert os.path.dirname(path) == folder and os.path.isfile(path)
        targets = data.targets
        assert targets.shape == (size, 22) and targets.dtype == np.float32
        for labels, row in zip(frame["labels"], targets):
            assert {TECHNIQUES[j] for j in np.flatnonzero(row)} == set(labels)
        assert data.class_names == TECHNIQUES
        all_ids += list(frame["id"])
    assert len(all_ids) == len(set(all_ids)), "ids are unique across splits"
    texts = read_semeval21_task6(corpus, "train").frame["text"]
    assert all("\n\n" in t for t in texts), "every synthetic text has several sentences"


def test_synthetic_labels_look_like_the_real_corpus(corpus):
    targets = np.concatenate([read_semeval21_task6(corpus, s).targets for s in SPLITS])
    per_meme = targets.sum(1)
    assert 2.0 <= per_meme.mean() <= 3.5
    assert np.mean((per_meme >= 2) & (per_meme <= 5)) > 0.5
    counts = dict(zip(TECHNIQUES, targets.sum(0)))
    frequent = min(counts[SM], counts[LL], counts[NC])
    rare = max(counts[t] for t in ("Reductio ad hitlerum", "Bandwagon",
                                   "Obfuscation, Intentional vagueness, Confusion",
                                   "Presenting Irrelevant Data (Red Herring)"))
    assert frequent > 3 * max(rare, 1)


def test_synthetic_writer_is_deterministic(tmp_path, corpus):
    again = write_synthetic_semeval21_task6(tmp_path / "again", sizes=SIZES, seed=3)
    for folder_name, json_name in SPLITS.values():
        a = (tmp_path / "again" / folder_name / json_name).read_text(encoding="utf-8")
        b = open(os.path.join(corpus, folder_name, json_name), encoding="utf-8").read()
        assert a == b
    assert str(again) == str(tmp_path / "again")


def test_jpeg_inside_png_decodes_by_content(corpus):
    import tensorflow as tf

    frame = read_semeval21_task6(corpus, "train").frame
    disguised = []
    for path in frame["image_path"]:
        with open(path, "rb") as f:
            head = f.read(3)
        if path.endswith(".png") and head == b"\xff\xd8\xff":
            disguised.append(path)
    assert disguised, "the synthetic corpus holds JPEG bytes under a .png name"
    image = tf.io.decode_image(tf.io.read_file(disguised[0]), channels=3, expand_animations=False)
    assert image.shape[0] >= 100 and image.shape[1] >= 100 and image.shape[2] == 3
    kept, report = check_images(frame, progress=False, workers=2)
    assert report.skipped == [] and len(kept) == len(frame)


# ---------------------------------------------------------------- bad input


def test_unknown_technique_is_named_with_its_id(tmp_path):
    path = _write_split(tmp_path, [_meme("1"), _meme("77", labels=[LL, "Thought-terminating cliche"])])
    with pytest.raises(DataError) as e:
        read_semeval21_task6(tmp_path)
    message = str(e.value)
    assert str(path) in message and "row 2" in message and "'77'" in message
    assert "Thought-terminating cliche" in message and "did you mean 'Thought-terminating cliché'" in message


def test_label_names_are_checked_exactly(tmp_path):
    _write_split(tmp_path, [_meme("5", labels=["loaded language"])])
    with pytest.raises(DataError, match=r"id '5'.*unknown technique 'loaded language'"):
        read_semeval21_task6(tmp_path)


def test_missing_key_is_named(tmp_path):
    entry = _meme("9")
    del entry["image"]
    path = _write_split(tmp_path, [_meme("1"), entry])
    with pytest.raises(DataError) as e:
        read_semeval21_task6(tmp_path)
    assert str(path) in str(e.value) and "id '9'" in str(e.value) and "missing key 'image'" in str(e.value)


def test_missing_id_is_named_by_row(tmp_path):
    entry = _meme("1")
    del entry["id"]
    _write_split(tmp_path, [entry])
    with pytest.raises(DataError, match=r"row 1.*missing key 'id'"):
        read_semeval21_task6(tmp_path)


def test_wrong_types_are_named(tmp_path):
    _write_split(tmp_path, [_meme("3", labels=[]) | {"labels": LL}])
    with pytest.raises(DataError, match=r"id '3'.*labels must be a list"):
        read_semeval21_task6(tmp_path)
    _write_split(tmp_path, [_meme("4") | {"text": ["A", "B"]}])
    with pytest.raises(DataError, match=r"id '4'.*text must be a string"):
        read_semeval21_task6(tmp_path)
    _write_split(tmp_path, [_meme("4") | {"id": 4}])
    with pytest.raises(DataError, match=r"id must be a non-empty string"):
        read_semeval21_task6(tmp_path)


def test_duplicate_id_is_named(tmp_path):
    path = _write_split(tmp_path, [_meme("12"), _meme("13"), _meme("12", labels=[])])
    with pytest.raises(DataError) as e:
        read_semeval21_task6(tmp_path)
    message = str(e.value)
    assert str(path) in message and "row 3" in message and "id '12'" in message
    assert "duplicate id (first at row 1)" in message


@pytest.mark.parametrize("name", ["../../secret.png", "/etc/passwd", "sub/../../x.png"])
def test_image_name_escaping_the_split_folder_is_refused(tmp_path, name):
    _write_split(tmp_path, [_meme("21", image=name)])
    with pytest.raises(DataError) as e:
        read_semeval21_task6(tmp_path)
    assert "id '21'" in str(e.value) and "column 'image'" in str(e.value)
    assert "escapes" in str(e.value) or "absolute path" in str(e.value)


def test_pickled_split_file_is_refused(tmp_path):
    folder_name, json_name = SPLITS["train"]
    (tmp_path / folder_name).mkdir()
    (tmp_path / folder_name / json_name).write_bytes(pickle.dumps([_meme("1")], protocol=4))
    with pytest.raises(DataError, match="pickle"):
        read_semeval21_task6(tmp_path)


def test_pickle_given_as_the_corpus_is_refused(tmp_path):
    path = tmp_path / "task3.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(DataError, match="unpickle"):
        read_semeval21_task6(path)


def test_not_an_array_and_not_json_are_named(tmp_path):
    path = _write_split(tmp_path, None, raw='{"id": "1"}')
    with pytest.raises(DataError, match="expected a JSON array"):
        read_semeval21_task6(tmp_path)
    _write_split(tmp_path, None, raw='[{"id": "1",]')
    with pytest.raises(DataError, match=r"not valid JSON.*line 1"):
        read_semeval21_task6(tmp_path)
    assert path.exists()


def test_missing_split_folder_and_unknown_split(tmp_path):
    _write_split(tmp_path, [_meme("1")], split="train")
    with pytest.raises(DataError, match="dev_set_task3_labeled/ not found"):
        read_semeval21_task6(tmp_path, "dev")
    with pytest.raises(ValueError, match="unknown split"):
        read_semeval21_task6(tmp_path, "validation")


def test_unlabelled_test_file_reads_without_labels_only_where_allowed(tmp_path, caplog):
    entry = _meme("8")
    del entry["labels"]
    path = _write_split(tmp_path, [entry], split="test")
    data = read_semeval21_task6(tmp_path, "test")  # test may come without gold: predictions only
    assert not data.labelled and data.labels_file is None and data.frame["labels"].tolist() == [None]
    assert "no labels and no gold file" in caplog.text
    with pytest.raises(DataError, match="no gold labels: it can be predicted, not scored"):
        data.targets
    with pytest.raises(DataError, match=r"no meme of the test split has labels"):
        read_semeval21_task6(tmp_path, "test", require_labels=True)
    _write_split(tmp_path, [entry], split="train")  # train must have labels
    with pytest.raises(DataError, match=r"training_set_task3.txt.*no meme of the train split has labels"):
        read_semeval21_task6(tmp_path, "train")
    # A file where some memes have labels and others not is malformed, not unlabelled.
    _write_split(tmp_path, [_meme("7"), entry], split="test")
    with pytest.raises(DataError, match=r"row 2.*id '8'.*missing key 'labels'"):
        read_semeval21_task6(tmp_path, "test")
    assert path.exists()


# ------------------------------------------------------------------ scorer


GOLD = {"m1": [LL, NC, SM], "m2": [LL], "m3": [SM, TR], "m4": []}
PRED = {"m1": [LL, SM], "m2": [LL, NC], "m3": [TR, DO], "m4": [LL]}


def test_scorer_matches_hand_computed_f1():
    # Per technique, over the four memes (TP / FP / FN):
    #   Loaded Language: gold m1 m2, predicted m1 m2 m4 -> TP 2 (m1, m2), FP 1 (m4), FN 0
    #                    F1 = 2TP / (2TP + FP + FN) = 4 / 5 = 0.8
    #   Name calling:    gold m1, predicted m2          -> TP 0, FP 1, FN 1 -> F1 = 0
    #   Smears:          gold m1 m3, predicted m1       -> TP 1, FP 0, FN 1 -> F1 = 2 / 3
    #   Transfer:        gold m3, predicted m3          -> TP 1, FP 0, FN 0 -> F1 = 1
    #   Doubt:           gold none, predicted m3        -> TP 0, FP 1, FN 0 -> F1 = 0
    #   the other 17:    no gold, no prediction         -> F1 = 0/0, set by zero_division
    # Micro: TP = 2+0+1+1+0 = 4, FP = 1+1+0+0+1 = 3, FN = 0+1+1+0+0 = 2
    #        F1 = 2*4 / (2*4 + 3 + 2) = 8 / 13
    # Macro (official scorer, zero_division=1: the 17 unseen techniques count 1):
    #        (0.8 + 0 + 2/3 + 1 + 0 + 17 * 1) / 22 = (2.8 + 2/3 + 16) / 22
    # Macro with zero_division=0 (scikit-learn's default behaviour):
    #        (0.8 + 0 + 2/3 + 1 + 0) / 22
    result = score(GOLD, PRED)
    assert result["micro_f1"] == pytest.approx(8 / 13)
    assert result["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 1 + 17) / 22)
    per = result["per_technique"]
    assert list(per) == list(TECHNIQUES)
    assert per[LL] == pytest.approx(0.8) and per[NC] == 0 and per[SM] == pytest.approx(2 / 3)
    assert per[TR] == 1 and per[DO] == 0 and per["Bandwagon"] == 1

    strict = score(GOLD, PRED, zero_division=0)
    assert strict["micro_f1"] == pytest.approx(8 / 13)
    assert strict["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 1) / 22)


def test_scorer_aligns_mappings_by_id_and_accepts_sequences():
    reordered = {k: PRED[k] for k in ("m4", "m2", "m3", "m1")}
    by_id = score(GOLD, reordered)
    in_order = score(list(GOLD.values()), list(PRED.values()))
    assert by_id == in_order
    perfect = score(GOLD, GOLD)
    assert perfect["micro_f1"] == 1 and perfect["macro_f1"] == 1


def test_scorer_refuses_mismatched_or_unknown_input():
    with pytest.raises(ValueError, match=r"missing \['m4'\]"):
        score(GOLD, {k: v for k, v in PRED.items() if k != "m4"})
    with pytest.raises(ValueError, match=r"predicted id 'm2'.*unknown technique 'Loaded language'"):
        score(GOLD, PRED | {"m2": ["Loaded language"]})
    with pytest.raises(ValueError, match="4 gold memes but 3 predictions"):
        score(list(GOLD.values()), list(PRED.values())[:3])


# -------------------------------------------------------- prediction files


def test_write_and_check_predictions_round_trip(tmp_path):
    path = tmp_path / "out" / "predictions.json"
    write_predictions(path, list(PRED), list(PRED.values()))
    with open(path, encoding="utf-8") as f:
        written = json.load(f)
    assert written == [{"id": k, "labels": v} for k, v in PRED.items()]
    checked = check_predictions(path, gold_ids=list(GOLD))
    assert checked == PRED
    assert score(GOLD, checked)["micro_f1"] == pytest.approx(8 / 13)
    assert [p.name for p in path.parent.iterdir()] == ["predictions.json"]  # no temp files left


def test_write_predictions_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"id 'm2'.*unknown technique 'Smear'"):
        write_predictions(tmp_path / "p.json", ["m1", "m2"], [[LL], ["Smear"]])
    with pytest.raises(ValueError, match=r"id 'm1': duplicate id"):
        write_predictions(tmp_path / "p.json", ["m1", "m1"], [[LL], []])
    assert not (tmp_path / "p.json").exists()


def _predictions_file(tmp_path, content):
    path = tmp_path / "pred.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


GOLD_IDS = ["m1", "m2"]


@pytest.mark.parametrize(
    "content, pattern",
    [
        ({"m1": [LL]}, r"expected a JSON array"),
        ('[{"id": "m1", "labels": []', r"not valid JSON"),
        ([{"id": "m1", "labels": []}, "m2"], r"row 2.*expected a JSON object"),
        ([{"id": "m1"}, {"id": "m2", "labels": []}], r"row 1.*id 'm1': missing key\(s\) \['labels'\]"),
        ([{"labels": []}], r"row 1.*missing key\(s\) \['id'\]"),
        ([{"id": "m1", "labels": [], "text": "x"}], r"id 'm1': unexpected key\(s\) \['text'\]"),
        ([{"id": "m1", "labels": []}, {"id": "m1", "labels": []}], r"row 2.*id 'm1': duplicate id"),
        ([{"id": "m1", "labels": []}, {"id": "m9", "labels": []}], r"id 'm9': id is not in the gold set"),
        ([{"id": "m1", "labels": []}], r"no prediction for gold id\(s\) \['m2'\]"),
        ([{"id": 1, "labels": []}], r"id 1: id must be a string"),
        ([{"id": "m1", "labels": LL}], r"id 'm1': labels must be a list"),
        ([{"id": "m1", "labels": []}, {"id": "m2", "labels": ["Transfers"]}],
         r"row 2.*id 'm2': unknown technique 'Transfers'; did you mean 'Transfer'"),
    ],
)
def test_check_predictions_names_format_errors(tmp_path, content, pattern):
    path = _predictions_file(tmp_path, content)
    with pytest.raises(DataError, match=pattern) as e:
        check_predictions(path, GOLD_IDS)
    assert str(path) in str(e.value)


def test_check_predictions_refuses_a_pickle(tmp_path):
    path = tmp_path / "pred.json"
    path.write_bytes(pickle.dumps([{"id": "m1", "labels": []}], protocol=4))
    with pytest.raises(DataError, match="pickle"):
        check_predictions(path, ["m1"])


# ------------------------------------------------------ probabilities -> labels


def test_probabilities_to_labels():
    p = np.zeros((3, 22))
    p[0, TECHNIQUES.index(SM)] = 0.9
    p[0, TECHNIQUES.index(LL)] = 0.51
    p[1, TECHNIQUES.index(TR)] = 0.5  # equal to the threshold: not predicted
    labels = probabilities_to_labels(p)
    assert labels == [[LL, SM], [], []]  # TECHNIQUES order
    per_technique = np.full(22, 0.5)
    per_technique[TECHNIQUES.index(TR)] = 0.3
    assert probabilities_to_labels(p, per_technique) == [[LL, SM], [TR], []]
    assert np.array_equal(multi_hot(labels), (p > 0.5).astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        probabilities_to_labels(np.zeros((2, 21)))
    with pytest.raises(ValueError, match="threshold"):
        probabilities_to_labels(p, np.full(3, 0.5))
