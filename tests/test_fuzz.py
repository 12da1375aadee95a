"""Fuzz the four dataset readers and predict's input parsing (issue 14, item 7).

Arbitrary bytes, CSV-like text and JSON values go where a data file belongs;
the only acceptable outcomes are a result (whose bad images, if any, are
counted skips) or a `DataError` with a one-line message naming the file.
Any other exception, or an example slower than the hypothesis `deadline`,
fails. The default run tries `FUZZ_EXAMPLES` (40) examples per target, a few
seconds each; set FUZZ_EXAMPLES=2000 for a long hunt.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python -m pytest tests/test_fuzz.py -q
"""

import json
import os
import shutil
import tempfile

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memotion_tf.datasets import danmu, mami, memotion7k, semeval21_task6
from memotion_tf.datasets.common import DataError, check_images
from memotion_tf.predict import read_image, read_inputs

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 40)), deadline=5000, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Pieces real files are made of, and pieces that break naive parsers.
TOKENS = [
    "", " ", "image_name", "text_corrected", "text_ocr", "overall_sentiment", "humour", "file_name",
    "misogynous", "shaming", "stereotype", "objectification", "violence", "Text Transcription", "text", "label",
    "image", "id", "Bullet Chat", "danmu", "Frequency", "Category ID", "positive", "very_negative", "neutral",
    "funny", "not_funny", "0", "1", "6", "7", "-1", "27", "214", "99999999999999999999", "1e400", "nan", "NaN",
    "a.png", "image_1.jpg", "../x.png", "../../etc/passwd", "/etc/passwd", "C:\\x.png", "images/../a.png",
    "\x00", "\"", "\"\"", "'", "\\", "\t", ",", ";", "\r", "\ufeff", "é", "\udcff", "游戏", "😀", "=cmd|' /C calc'!A0",
]
FIELD = st.one_of(st.sampled_from(TOKENS), st.text(max_size=12))
SEPARATORS = st.sampled_from([",", "\t", ";", ",,", "\t\t"])


@st.composite
def delimited(draw, header=None):
    """Text shaped like a CSV: maybe a plausible header, then rows of fields."""
    sep = draw(SEPARATORS)
    lines = []
    if header is not None and draw(st.booleans()):
        lines.append(sep.join(header))
    lines += [sep.join(draw(st.lists(FIELD, max_size=9))) for _ in range(draw(st.integers(0, 6)))]
    ending = draw(st.sampled_from(["\n", "\r\n", "\r", ""]))
    return ending.join(lines) + draw(st.sampled_from(["", "\n"]))


def file_contents(header=None):
    """Bytes for a data file: raw bytes, CSV-like text (UTF-8 or not), JSON."""
    text = delimited(header)
    return st.one_of(
        st.binary(max_size=600),
        text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        text.map(lambda t: t.encode("utf-16", "surrogatepass")),
        JSON.map(lambda v: json.dumps(v).encode()),
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(TOKENS) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(TOKENS), children, max_size=5),
    max_leaves=20,
)
MEME_VALUES = {
    "id": st.one_of(st.sampled_from(["1", "2", "1", ""]), JSON),
    "text": st.one_of(st.sampled_from(["A\n\nB", "", "  "]), JSON),
    "image": st.one_of(st.sampled_from(["a.png", "missing.png", "../a.png", "/etc/passwd", "a\x00.png", ""]), JSON),
    "labels": st.one_of(st.lists(st.sampled_from(list(semeval21_task6.TECHNIQUES) + ["Smear", ""]), max_size=3),
                        JSON),
}
# Arrays of meme-like objects: each key present or not, each value right or wrong.
MEMES = st.lists(
    st.fixed_dictionaries({}, optional=MEME_VALUES) | JSON, max_size=6
).map(lambda memes: json.dumps(memes, ensure_ascii=False).encode("utf-8", "surrogatepass"))


@pytest.fixture(scope="module")
def workdir():
    from memotion_tf.preprocessing.image import read_header

    read_header(b"GIF89a")  # traced once here, not inside an example's deadline
    path = tempfile.mkdtemp(prefix="memotion-tf-fuzz-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _fresh(workdir, name):
    """An empty folder for one example, holding one readable image `a.png`."""
    root = os.path.join(workdir, name)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    return root


def _image(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.zeros((4, 4, 3), np.uint8))


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _outcome(read, file):
    """Run `read`; a DataError must be one line naming `file` (or its folder)."""
    try:
        return read()
    except DataError as e:
        message = str(e)
        assert "\n" not in message and message.startswith(os.path.dirname(file)), message
        return None


def _check_images(frame):
    """Images of a frame the reader accepted: each is kept or a counted skip."""
    if frame is None or "image_path" not in frame or len(frame) == 0:
        return
    kept, report = check_images(frame, progress=False, workers=1)
    assert len(kept) + len(report.skipped) == len(frame)


@FUZZ
@given(content=file_contents(header=["", "image_name", "text_ocr", "text_corrected", "overall_sentiment"]),
       task=st.sampled_from(["A", "B", "C"]), duplicates=st.sampled_from(["error", "skip"]))
def test_fuzz_memotion7k(workdir, content, task, duplicates):
    root = _fresh(workdir, "memotion")
    _image(os.path.join(root, "images", "a.png"))
    _write(os.path.join(root, "labels.csv"), content)
    data = _outcome(lambda: memotion7k.read_memotion7k(root, task=task, duplicates=duplicates),
                    os.path.join(root, "labels.csv"))
    _check_images(data.frame if data else None)


@FUZZ
@given(training=file_contents(header=["file_name", *mami.LABEL_COLUMNS, mami.TEXT_COLUMN]),
       texts=file_contents(header=["file_name", mami.TEXT_COLUMN]), gold=file_contents(),
       split=st.sampled_from(mami.SPLITS), task=st.sampled_from(["A", "B"]))
def test_fuzz_mami(workdir, training, texts, gold, split, task):
    root = _fresh(workdir, "mami")
    _image(os.path.join(root, "TRAINING", "a.png"))
    _write(os.path.join(root, "TRAINING", "training.csv"), training)
    _write(os.path.join(root, "test", "Test.csv"), texts)
    _write(os.path.join(root, "test", "test_labels.txt"), gold)
    data = _outcome(lambda: mami.read_mami(root, task=task, split=split, duplicates="skip"), root + "/")
    _check_images(data.frame if data else None)


@FUZZ
@given(content=st.one_of(MEMES, file_contents()), gold=st.one_of(st.none(), MEMES),
       split=st.sampled_from(list(semeval21_task6.SPLITS)))
def test_fuzz_semeval21_task6(workdir, content, gold, split):
    root = _fresh(workdir, "task6")
    folder, name = semeval21_task6.SPLITS[split]
    _image(os.path.join(root, folder, "a.png"))
    _write(os.path.join(root, folder, name), content)
    if gold is not None:
        _write(os.path.join(root, name), gold)
    data = _outcome(lambda: semeval21_task6.read_semeval21_task6(root, split), root + "/")
    if data is not None:
        assert len(data.frame) > 0
        if data.labelled:
            assert data.targets.shape == (len(data.frame), len(semeval21_task6.TECHNIQUES))
        _check_images(data.frame)


@FUZZ
@given(raw=file_contents(header=["", "Bullet Chat", "Frequency", "Source Video Title", "Category ID"]),
       split=file_contents(header=["text", "label"]), level=st.sampled_from(danmu.LEVELS))
def test_fuzz_danmu(workdir, raw, split, level):
    root = _fresh(workdir, "danmu")
    _write(os.path.join(root, "danmu.csv"), raw)
    for name in danmu.SPLITS:
        _write(os.path.join(root, f"{name}.csv"), split if name == "val" else b"text,label\nx,1\n")
    data = _outcome(lambda: danmu.read_danmu_raw(root, level=level), root + "/")
    if data is not None:
        assert data.frame["label"].between(0, len(data.class_names) - 1).all()
    _outcome(lambda: danmu.read_danmu_processed(root), root + "/")


@FUZZ
@given(content=file_contents(header=["id", "text", "image"]), image=st.binary(max_size=400))
def test_fuzz_predict_inputs(workdir, content, image):
    """predict's input parsing: the CSV gives rows or a DataError, and every
    row's image is read into bytes or a one-line error, never an exception."""
    root = _fresh(workdir, "predict")
    _write(os.path.join(root, "a.png"), image)
    _write(os.path.join(root, "memes.csv"), content)
    rows = _outcome(lambda: read_inputs(os.path.join(root, "memes.csv")), os.path.join(root, "memes.csv"))
    for row in rows or []:
        assert isinstance(row.id, str) and isinstance(row.text, str)
        if row.image and not row.error:
            data, error = read_image(row.image)
            assert bool(data) != bool(error) and "\n" not in error
    data, error = read_image(os.path.join(root, "a.png"))
    assert bool(data) != bool(error)
