"""Raw-input serving and `memotion-tf predict` (issue 7, part 4).

One tiny CNN-LSTM-TI is trained once (the training pipeline's probabilities
on the validation memes are kept) and exported, and one tiny random BERT
(WordPiece tokenisation inside the SavedModel) is exported untrained.
"""

import io
import json
import os
import shutil
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from memotion_tf import cli
from memotion_tf.export import IMAGE_ERRORS, export_classifier, load_exported
from memotion_tf.predict import TOO_LONG_FACTOR
from tests import fixtures
from tests.test_image_limits import png_bomb

TINY = ["epochs=1", "batch_size=16", "image_size=32", "max_length=24"]
CLASSES = ("negative", "neutral", "positive")


@pytest.fixture(scope="module")
def fusion(tmp_path_factory):
    """(SavedModel path, vectorizer, validation frame, training-time probabilities)."""
    from memotion_tf import config as config_lib
    from memotion_tf.papers import get_paper
    from memotion_tf.papers.memotion import train_once

    path = next(p for p in get_paper("uor").config_paths() if p.endswith("cnn_lstm_ti.toml"))
    config = config_lib.load_config(path, "quick", TINY)
    data = fixtures.memotion_data()
    model, vectorizer, probabilities = train_once(config, data, seed=0, strategy=tf.distribute.get_strategy(),
                                                     verbose=0)
    saved = str(tmp_path_factory.mktemp("fusion") / "saved_model")
    export_classifier(model, saved, class_names=data.class_names, vectorizer=vectorizer,
                      image_size=config.image_size, metadata={"system": config.system})
    return saved, vectorizer, data.split("val").reset_index(drop=True), probabilities


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    """(SavedModel path, preprocessor) of a tiny random BERT text classifier."""
    from memotion_tf.models.bert_classifier import BertClassifier
    from memotion_tf.models.pretrained import text_backbone, text_preprocessor

    preprocessor = text_preprocessor("", sequence_length=16)
    preprocessor(["built before export, as training leaves it"])
    backbone = text_backbone("", vocabulary_size=preprocessor.tokenizer.vocabulary_size(), max_sequence_length=64)
    model = BertClassifier(backbone, num_classes=3)
    saved = str(tmp_path_factory.mktemp("bert") / "saved_model")
    export_classifier(model, saved, class_names=CLASSES, vectorizer=preprocessor, metadata={"system": "BERT"})
    return saved, preprocessor


def image_bytes(path, fmt):
    """The picture at `path` re-encoded as `fmt` (a PIL format name)."""
    buffer = io.BytesIO()
    Image.open(path).convert("RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# --- The SavedModel alone -------------------------------------------------------

PLAIN_TF = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the WordPiece ops; a TensorFlow library, not project code
requests = json.load(open(sys.argv[1]))
out = {}
for name, request in requests.items():
    serve = tf.saved_model.load(request["path"]).signatures["serving_default"]
    images = [bytes.fromhex(h) for h in request["images"]]
    result = serve(text=tf.constant(request["texts"]), image=tf.constant(images, tf.string))
    out[name] = {"probabilities": result["probabilities"].numpy().tolist(),
                 "label": [s.decode() for s in result["label"].numpy()],
                 "error": [s.decode() for s in result["error"].numpy()]}
out["project_modules"] = sorted(m for m in sys.modules if m.startswith(("memotion_tf", "keras_hub")))
print(json.dumps(out))
"""


def test_saved_models_serve_raw_text_and_image_bytes_with_plain_tensorflow(fusion, bert, tmp_path):
    """A fresh interpreter, outside the repository, imports only TensorFlow (and
    TensorFlow Text for WordPiece), loads each SavedModel and calls it on raw
    text and JPEG, PNG and BMP bytes; the outputs equal the in-process ones."""
    saved, _, frame, _ = fusion
    rows = frame.head(3)
    images = [image_bytes(p, fmt) for p, fmt in zip(rows["image_path"], ("JPEG", "PNG", "BMP"))]
    texts = rows["text"].astype(str).tolist()
    requests = {"fusion": {"path": saved, "texts": texts, "images": [b.hex() for b in images]},
                "bert": {"path": bert[0], "texts": texts, "images": ["", "", ""]}}
    (tmp_path / "requests.json").write_text(json.dumps(requests))
    (tmp_path / "serve.py").write_text(PLAIN_TF)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "serve.py", "requests.json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["project_modules"] == []
    for name, path in (("fusion", saved), ("bert", bert[0])):
        serve, _, _ = load_exported(path)
        image_input = images if name == "fusion" else [b""] * 3
        expected = serve(text=tf.constant(texts), image=tf.constant(image_input))
        np.testing.assert_allclose(out[name]["probabilities"], expected["probabilities"].numpy(), atol=1e-6)
        assert out[name]["label"] == [s.decode() for s in expected["label"].numpy()]
        assert set(out[name]["label"]) <= set(CLASSES) and out[name]["error"] == ["", "", ""]


def test_metadata_records_how_much_text_the_model_reads(fusion, bert):
    _, fusion_meta, _ = load_exported(fusion[0])
    assert {k: fusion_meta[k] for k in ("sequence_length", "max_text_tokens", "text_truncation")} == {
        "sequence_length": 24, "max_text_tokens": 24, "text_truncation": "start"}
    serve, bert_meta, _ = load_exported(bert[0])
    # [CLS] and [SEP] take two of BERT's 16 positions.
    assert {k: bert_meta[k] for k in ("sequence_length", "max_text_tokens", "text_truncation")} == {
        "sequence_length": 16, "max_text_tokens": 14, "text_truncation": "end"}
    text = "unbelievably photosynthesis memes"
    out = serve(text=tf.constant([text, ""]), image=tf.constant([b"", b""]))
    pieces = len(bert[1].tokenizer(text))
    assert pieces > 3  # WordPiece splits the long words: pieces, not words, are counted
    assert out["text_tokens"].numpy().tolist() == [pieces, 0]


def test_one_bad_image_does_not_fail_the_batch(fusion):
    saved, _, frame, _ = fusion
    serve, _, _ = load_exported(saved)
    good = [read_bytes(p) for p in frame["image_path"][:2]]
    tiff = image_bytes(frame["image_path"][0], "TIFF")
    batch = [good[0], b"\xff\xd8\xff\xe0 not really a jpeg", tiff, b"", good[1], good[1][: len(good[1]) // 3]]
    texts = tf.constant(frame["text"].astype(str).tolist()[:2] * 3)
    out = serve(text=texts, image=tf.constant(batch))
    errors = [s.decode() for s in out["error"].numpy()]
    assert errors[0] == "" and errors[4] == ""
    assert errors[1] == IMAGE_ERRORS["corrupt"] and errors[5] == IMAGE_ERRORS["corrupt"]
    assert errors[2] == IMAGE_ERRORS["format"] and errors[3] == IMAGE_ERRORS["empty"]
    probabilities = out["probabilities"].numpy()
    assert np.isnan(probabilities[[1, 2, 3, 5]]).all()
    assert [s.decode() for s in out["label"].numpy()][1] == ""
    alone = serve(text=tf.gather(texts, [0, 4]), image=tf.constant([good[0], good[1]]))
    np.testing.assert_allclose(probabilities[[0, 4]], alone["probabilities"].numpy(), atol=1e-6)
    empty = serve(text=tf.constant([], tf.string), image=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 3)


# --- memotion-tf predict --------------------------------------------------------

def write_csv(path, rows):
    pd.DataFrame(rows, columns=["id", "text", "image"]).to_csv(path, index=False)


@pytest.mark.parametrize("batch_size", [1, 32])
def test_predict_from_raw_files_equals_training_time_probabilities(fusion, tmp_path, batch_size):
    """predict reads the meme files; the training pipeline decoded the same
    files and vectorised the same text: the probabilities agree to 1e-5."""
    from memotion_tf.predict import predict_file

    saved, _, frame, probabilities = fusion
    assert probabilities.std(0).max() > 1e-3  # the memes' probabilities differ: the comparison means something
    image_root = os.path.dirname(frame["image_path"][0])  # the data set's images/, not the CSV's folder
    write_csv(tmp_path / "memes.csv", [(i, t, os.path.basename(p))
                                       for i, (t, p) in enumerate(zip(frame["text"], frame["image_path"]))])
    output = str(tmp_path / "preds.csv")
    predict_file(saved, str(tmp_path / "memes.csv"), output, batch_size=batch_size, image_root=image_root)
    preds = pd.read_csv(output, keep_default_na=False)
    empty = frame["text"].astype(str).str.strip() == ""
    assert (preds["error"][empty] != "").all() and (preds["error"][~empty] == "").all()
    ours = preds.loc[~empty, [f"p_{c}" for c in CLASSES]].to_numpy(dtype=float)
    np.testing.assert_allclose(ours, probabilities[~empty.to_numpy()], atol=1e-5)
    assert preds["label"][~empty].tolist() == [CLASSES[i] for i in probabilities[~empty.to_numpy()].argmax(-1)]


def test_predict_gives_per_row_errors_and_warnings_without_crashing(fusion, tmp_path):
    saved, vectorizer, frame, _ = fusion
    text = frame["text"][frame["text"].str.split().str.len() >= 4].iloc[0]
    image = os.path.basename(shutil.copy(frame["image_path"][0], tmp_path))  # inside the CSV's folder
    limit = 24
    words = vectorizer.get_vocabulary()[2:]  # in-vocabulary words, each one token
    long_text = " ".join(words[i % len(words)] for i in range(limit + 6))
    huge_text = " ".join(words[i % len(words)] for i in range(TOO_LONG_FACTOR * limit + 1))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "scan.tiff").write_bytes(image_bytes(tmp_path / image, "TIFF"))
    (tmp_path / "anim.gif").write_bytes(image_bytes(tmp_path / image, "GIF"))
    (tmp_path / "photo.webp").write_bytes(image_bytes(tmp_path / image, "WEBP"))
    (tmp_path / "a_folder.jpg").mkdir()
    (tmp_path / "bomb.png").write_bytes(png_bomb())
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it for reading would block until a writer comes
    os.symlink("/dev/zero", tmp_path / "zero.jpg")  # a device that never ends, behind a link
    cases = {
        "ok": (text, image, "", ""),
        "gif": (text, "anim.gif", "", ""),
        "webp": (text, "photo.webp", "", ""),
        "corrupt": (text, "broken.jpg", f"{IMAGE_ERRORS['corrupt']}: ", ""),
        "zero_bytes": (text, "empty.png", f"{IMAGE_ERRORS['empty']}: ", ""),
        "tiff": (text, "scan.tiff", f"{IMAGE_ERRORS['format']}: ", ""),
        "missing": (text, "nowhere.jpg", "image file not found: ", ""),
        "directory": (text, "a_folder.jpg", "image file is not a regular file (a folder): ", ""),
        "fifo": (text, "pipe.jpg", "image file is not a regular file (a FIFO, socket or device): ", ""),
        "dev_zero_link": (text, "zero.jpg", "image path refused: file name 'zero.jpg' escapes ", ""),
        "dev_zero": (text, "/dev/zero", "image path refused: absolute path '/dev/zero' is not allowed", ""),
        "escaping": (text, "../../etc/passwd", "image path refused: file name '../../etc/passwd' escapes", ""),
        "bomb": (text, "bomb.png", "image: too large: 20000 x 20000 pixels = 400,000,000, over the limit of "
                                   "50,000,000: ", ""),
        "no_image": (text, "", "no image given", ""),
        "empty_text": ("", image, "empty text", ""),
        "blank_text": (" \t ", image, "empty text", ""),
        "unknown_words": ("qqqzzz xxyyzz", image, "", "no word of the text is in the model's vocabulary: it read an empty text"),
        "long_text": (long_text, image, "", f"text truncated: {limit + 6} tokens, the model reads the last {limit} (6 cut)"),
        "huge_text": (huge_text, image, f"text too long: {TOO_LONG_FACTOR * limit + 1} tokens, over {TOO_LONG_FACTOR} x the {limit}", ""),
    }
    write_csv(tmp_path / "memes.csv", [(k, t, p) for k, (t, p, _, _) in cases.items()])
    for output in ("preds.json", "preds.csv"):
        assert cli.main(["predict", "--saved-model", saved, "--input", str(tmp_path / "memes.csv"),
                         "--output", str(tmp_path / output), "--batch-size", "4"]) == 0
    preds = {p["id"]: p for p in json.load(open(tmp_path / "preds.json"))}
    assert list(preds) == list(cases)
    for name, (_, _, error, warning) in cases.items():
        assert preds[name]["error"].startswith(error) and bool(preds[name]["error"]) == bool(error), name
        assert preds[name]["warning"] == warning, name
        predicted = not error
        assert (preds[name]["label"] in CLASSES) == predicted, name
        assert ("p_neutral" in preds[name]) == predicted, name
    assert preds["missing"]["error"].endswith("nowhere.jpg")
    bomb_size = os.path.getsize(tmp_path / "bomb.png")
    assert preds["bomb"]["error"].endswith(f"{tmp_path / 'bomb.png'} (a file of {bomb_size:,} bytes)")
    csv = pd.read_csv(tmp_path / "preds.csv", keep_default_na=False, dtype={"id": str})
    assert csv["id"].tolist() == list(cases) and csv["error"].tolist() == [p["error"] for p in preds.values()]
    # The truncated text is predicted as training would: from its last 24 tokens.
    serve, _, _ = load_exported(saved)
    tail = " ".join(long_text.split()[-limit:])
    out = serve(text=tf.constant([tail]), image=tf.constant([read_bytes(tmp_path / image)]))
    np.testing.assert_allclose([preds["long_text"][f"p_{c}"] for c in CLASSES], out["probabilities"][0], atol=1e-6)


def test_empty_text_can_be_allowed_and_a_folder_is_predicted(fusion, tmp_path):
    saved, _, frame, _ = fusion
    folder = tmp_path / "memes"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(image_bytes(frame["image_path"][0], "JPEG"))
    (folder / "b.tif").write_bytes(image_bytes(frame["image_path"][0], "TIFF"))
    (folder / "notes.txt").write_text("not a meme")
    output = str(tmp_path / "preds.json")
    assert cli.main(["predict", "--saved-model", saved, "--input", str(folder), "--output", output]) == 0
    preds = json.load(open(output))
    assert [p["id"] for p in preds] == ["a.jpg", "b.tif"]
    assert all(p["error"].startswith("empty text") for p in preds)  # a folder has no text
    assert cli.main(["predict", "--saved-model", saved, "--input", str(folder), "--output", output,
                     "--allow-empty-text"]) == 0
    a, b = json.load(open(output))
    assert a["error"] == "" and a["warning"] == "empty text" and a["label"] in CLASSES
    assert b["error"].startswith(IMAGE_ERRORS["format"])


def test_predict_retries_row_by_row_when_a_saved_model_raises(fusion, tmp_path, monkeypatch):
    """A SavedModel exported before per-row image errors raises on a bad image
    in the batch; predict then retries that batch one row at a time."""
    from memotion_tf import predict

    saved, _, frame, _ = fusion
    predictor = predict.Predictor(saved, batch_size=8)
    serve = predictor.serve

    def strict(text, image):
        for data in image.numpy():
            tf.io.decode_image(data)  # raises InvalidArgumentError, as the old signature did
        return {k: v for k, v in serve(text=text, image=image).items() if k not in ("error", "text_tokens")}

    predictor.serve = strict
    # A whole header (it passes the size check) and a cut body, which the strict signature raises on.
    jpeg = image_bytes(frame["image_path"][0], "JPEG")
    (tmp_path / "broken.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    text = "some meme text"
    rows = [("1", text, frame["image_path"][0]), ("2", text, str(tmp_path / "broken.jpg")),
            ("3", text, frame["image_path"][1])]
    results = predictor.predict(rows)
    assert [r["error"] == "" for r in results] == [True, False, True]
    assert results[1]["error"].startswith("model: ") and "JPEG" in results[1]["error"]
    assert results[0]["label"] in CLASSES and results[2]["label"] in CLASSES


def test_multi_label_signature_marks_a_bad_image_and_predicts_the_rest(fusion, tmp_path):
    image = keras.Input((8, 8, 3), name="image")
    pooled = keras.layers.GlobalAveragePooling2D()(image)
    model = keras.Model({"image": image}, keras.layers.Dense(3, activation="sigmoid")(pooled))
    # Bias +5 / -5 / +5: classes a and c are predicted for any picture.
    model.layers[-1].set_weights([np.zeros((3, 3), "float32"), np.array([5, -5, 5], "float32")])
    saved = str(tmp_path / "saved_model")
    export_classifier(model, saved, class_names=["a, with comma", "b", "c"], image_size=8, multi_label=True,
                      metadata={"system": "multi"})
    serve, meta, _ = load_exported(saved)
    good = read_bytes(fusion[2]["image_path"][0])
    out = serve(text=tf.constant(["", ""]), image=tf.constant([good, b"GIF89a broken"]))
    assert [s.decode() for s in out["label"].numpy()] == ["a, with comma | c", ""]
    assert out["predicted"].numpy().tolist() == [[1, 0, 1], [0, 0, 0]]
    assert [s.decode() for s in out["error"].numpy()] == ["", IMAGE_ERRORS["corrupt"]]
    assert "max_text_tokens" not in meta  # an image-only model reads no text


def test_predict_segments_chinese_text_for_jieba_models(tmp_path):
    """BiliMemeNet SavedModels take jieba-segmented text: predict segments the
    raw chats first, and a chat of stopwords only is empty text."""
    from memotion_tf.datasets import danmu
    from memotion_tf.models.linear_baseline import LinearBaseline
    from memotion_tf.preprocessing.text import SequenceVectorizer
    from memotion_tf.papers.bilimeme import segment_texts

    chats = ["这个游戏的画面真好看啊", "今天吃火锅", "游戏 画面"]
    segmented = segment_texts(chats)
    vectorizer = SequenceVectorizer(sequence_length=8)
    vectorizer.adapt(segmented)
    vectorizer(tf.constant(segmented))
    model = LinearBaseline(vectorizer.vocabulary_size, sequence_length=8, units=4, num_classes=6)
    saved = str(tmp_path / "saved_model")
    export_classifier(model, saved, class_names=danmu.SIX_CLASSES, vectorizer=vectorizer,
                      metadata={"system": "test", "text_input": "jieba"})
    pd.DataFrame({"text": chats + ["啊啊"]}).to_csv(tmp_path / "chats.csv", index=False)
    output = str(tmp_path / "preds.json")
    assert cli.main(["predict", "--saved-model", saved, "--input", str(tmp_path / "chats.csv"),
                     "--output", output]) == 0
    preds = json.load(open(output))
    assert [p["id"] for p in preds] == ["1", "2", "3", "4"]
    assert [p["error"] == "" for p in preds] == [True, True, True, False]
    serve, _, _ = load_exported(saved)
    expected = serve(text=tf.constant(segmented), image=tf.constant([b""] * 3))["probabilities"].numpy()
    ours = [[p[f"p_{c}"] for c in danmu.SIX_CLASSES] for p in preds[:3]]
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    # Unsegmented, the first chat is one unknown "word": the segmentation did change the input.
    raw = serve(text=tf.constant(chats[:1]), image=tf.constant([b""]))
    assert raw["text_tokens"].numpy()[0] == 0 and preds[0]["warning"] == ""
    assert preds[0]["warning"] == "" and "vocabulary" not in preds[1]["warning"]


def test_predict_names_a_missing_input_without_a_traceback(fusion, tmp_path, caplog):
    assert cli.main(["predict", "--saved-model", fusion[0], "--input", str(tmp_path / "nope.csv"),
                     "--output", str(tmp_path / "preds.csv")]) == 2
    assert "nope.csv" in caplog.text and "input not found" in caplog.text
    assert not (tmp_path / "preds.csv").exists()


class PackedIds(keras.layers.Layer):
    """Preprocessing like the CLIP text vectoriser: a keras-hub tokeniser and
    packer returning bare token ids, no padding mask to count tokens with."""

    def __init__(self, tokenizer, sequence_length):
        super().__init__()
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.packer = keras_hub.layers.StartEndPacker(
            start_value=tokenizer.cls_token_id, end_value=tokenizer.sep_token_id, pad_value=0,
            sequence_length=sequence_length)

    def call(self, texts):
        return self.packer(self.tokenizer(texts))


def test_preprocessing_that_cannot_count_tokens_exports_and_predicts(bert, tmp_path):
    vectorizer = PackedIds(bert[1].tokenizer, 8)
    vectorizer(tf.constant(["built"]))
    token_ids = keras.Input((8,), dtype="int32", name="token_ids")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(40000, 4)(token_ids))
    model = keras.Model({"token_ids": token_ids}, keras.layers.Dense(3, activation="softmax")(pooled))
    saved = str(tmp_path / "saved_model")
    export_classifier(model, saved, class_names=CLASSES, vectorizer=vectorizer, metadata={"system": "packed"})
    serve, meta, _ = load_exported(saved)
    assert meta["sequence_length"] == 8 and "max_text_tokens" not in meta
    out = serve(text=tf.constant(["a b c d e f g h i j k l"]), image=tf.constant([b""]))
    assert out["text_tokens"].numpy().tolist() == [-1]
    pd.DataFrame({"text": ["a b c d e f g h i j k l", ""]}).to_csv(tmp_path / "memes.csv", index=False)
    output = str(tmp_path / "preds.json")
    assert cli.main(["predict", "--saved-model", saved, "--input", str(tmp_path / "memes.csv"),
                     "--output", output]) == 0
    long_text, empty = json.load(open(output))
    assert long_text["error"] == long_text["warning"] == "" and long_text["label"] in CLASSES
    assert empty["error"].startswith("empty text")
