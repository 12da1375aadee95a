import os
import tempfile

import pytest

from memotion_tf.preprocessing.chinese import CACHE_FILE, ChineseTokenizer, load_stopwords


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("jieba_cache"))


def test_stopwords_removed_by_hand(cache_dir):
    tokenizer = ChineseTokenizer(cache_dir, stopwords={"的", "啊"})
    # jieba: 游戏 / 的 / 画面 / 啊 / ！
    assert tokenizer.tokenize("游戏的画面啊！") == ["游戏", "画面"]
    assert tokenizer("游戏的画面啊！") == "游戏 画面"
    kept = ChineseTokenizer(cache_dir, stopwords=None)
    assert kept.tokenize("游戏的画面啊！") == ["游戏", "的", "画面", "啊"]


def test_default_stopwords_iso_list(cache_dir):
    stopwords = load_stopwords()
    assert {"的", "啊", "这个"} <= stopwords and "游戏" not in stopwords
    tokenizer = ChineseTokenizer(cache_dir)
    assert tokenizer.tokenize("这个游戏的画面真好看啊") == ["游戏", "画面", "真", "好看"]


def test_stopwords_from_file(tmp_path):
    path = tmp_path / "stop.txt"
    path.write_text("# source: hand-made\n的\n\n了\n", encoding="utf-8")
    assert load_stopwords(str(path)) == {"的", "了"}


def test_lowercase_punctuation_and_bytes(cache_dir):
    tokenizer = ChineseTokenizer(cache_dir, stopwords=None)
    assert tokenizer.tokenize("AWSL！！！") == ["awsl"]
    assert tokenizer.tokenize("游戏".encode("utf-8")) == ["游戏"]
    assert tokenizer.tokenize("。。。") == []


def test_jieba_cache_lands_in_configured_dir(tmp_path, monkeypatch):
    shared_tmp = tmp_path / "shared_tmp"
    shared_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
    cache = tmp_path / "cache" / "jieba"  # created on demand
    tokenizer = ChineseTokenizer(cache, stopwords=None).initialize()
    assert tokenizer.cache_path == str(cache / CACHE_FILE)
    assert os.listdir(cache) == [CACHE_FILE]
    assert os.listdir(shared_tmp) == []
    # A second tokenizer loads the cache instead of rewriting it.
    mtime = os.path.getmtime(tokenizer.cache_path)
    ChineseTokenizer(cache, stopwords=None).initialize()
    assert os.path.getmtime(tokenizer.cache_path) == mtime


def test_tf_data_then_text_vectorization(cache_dir):
    import keras
    import tensorflow as tf

    tokenizer = ChineseTokenizer(cache_dir, stopwords={"的", "啊"})
    texts = ["游戏的画面啊！", "吃火锅"]
    eager = tokenizer.tf_tokenize(tf.constant(texts[0]))
    assert eager.shape == () and eager.numpy().decode() == "游戏 画面"

    per_example = tf.data.Dataset.from_tensor_slices(texts).map(tokenizer.tf_tokenize)
    assert [t.decode() for t in per_example.as_numpy_iterator()] == ["游戏 画面", "吃火锅"]
    batched = tf.data.Dataset.from_tensor_slices(texts).batch(2).map(tokenizer.tf_tokenize)
    assert batched.element_spec.shape.as_list() == [None]

    vectorizer = keras.layers.TextVectorization(standardize=None, split="whitespace")
    vectorizer.adapt(batched)
    assert {"游戏", "画面", "吃火锅"} <= set(vectorizer.get_vocabulary())
    ids = batched.map(vectorizer)
    first = next(iter(ids)).numpy()
    assert first.shape == (2, 2) and (first[0] > 1).all()
