"""Chinese word segmentation with jieba and stopword removal, usable inside tf.data.

BiliMemeNet (section 4.1) segments every bullet chat with jieba and removes
stopwords before counting and training. The paper does not name its stopword
list; the default here is the Chinese list of stopwords-iso (MIT licence),
installed as the PyPI package `stopwordsiso`.

jieba builds a prefix dictionary on first use and caches it. Its module-level
tokenizer writes that cache to the shared temporary folder (`/tmp/jieba.cache`),
which concurrent jobs race on; `ChineseTokenizer` owns a `jieba.Tokenizer`
whose cache lives in a folder you choose.

Segmentation is Python, so in a tf.data pipeline it runs through
`tf.numpy_function`: use it in `Dataset.map` before batching or on batches, and
follow it with `keras.layers.TextVectorization(split="whitespace")`. It cannot
be part of an exported SavedModel; export the model from the vectorised ids on.

Example:
>>> tokenizer = ChineseTokenizer("/tmp/my_jieba_cache")
>>> tokenizer.tokenize("这个游戏的画面真好看啊")
['游戏', '画面', '真', '好看']
>>> ds = tf.data.Dataset.from_tensor_slices(texts).map(tokenizer.tf_tokenize)
"""

import os
import unicodedata

import numpy as np

STOPWORDS_ISO = "stopwords-iso"
CACHE_FILE = "jieba.cache"


def load_stopwords(source=STOPWORDS_ISO):
    """A frozenset of stopwords.

    source: "stopwords-iso" (the `stopwordsiso` package's Chinese list), a path
    to a UTF-8 text file with one word per line (`#` starts a comment line), an
    iterable of words, or None for no stopwords.
    """
    if source is None:
        return frozenset()
    if isinstance(source, str) and source == STOPWORDS_ISO:
        import stopwordsiso

        return frozenset(stopwordsiso.stopwords("zh"))
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="utf-8") as f:
            lines = (line.strip() for line in f)
            return frozenset(line for line in lines if line and not line.startswith("#"))
    return frozenset(str(word) for word in source)


def _is_punctuation(token):
    return all(unicodedata.category(ch).startswith("P") or ch.isspace() for ch in token)


class ChineseTokenizer:
    """jieba segmentation -> stopword and punctuation removal.

    Args:
        cache_dir: folder for jieba's dictionary cache (`jieba.cache`); created
            if missing. Share it between runs to skip the ~1 s dictionary build.
        stopwords: see `load_stopwords`; default the stopwords-iso Chinese list.
        user_dict: optional jieba user dictionary file (one `word [freq] [tag]`
            a line), e.g. bullet-chat slang.
        hmm: let jieba's HMM join words missing from its dictionary.
        lowercase: lower-case Latin letters first ("AWSL" and "awsl" are one word).
        drop_punctuation: drop tokens made only of punctuation (Unicode P*
            categories) and whitespace. Symbols (S*) such as "♂" are kept.

    Example:
    >>> t = ChineseTokenizer(cache_dir, stopwords={"的", "啊"})
    >>> t.tokenize("游戏的画面啊！")
    ['游戏', '画面']
    >>> t("游戏的画面啊！")
    '游戏 画面'
    """

    def __init__(self, cache_dir, stopwords=STOPWORDS_ISO, user_dict=None, hmm=True,
                 lowercase=True, drop_punctuation=True):
        import jieba

        self.cache_dir = os.path.abspath(os.fspath(cache_dir))
        os.makedirs(self.cache_dir, exist_ok=True)
        self.stopwords = load_stopwords(stopwords)
        self.hmm = hmm
        self.lowercase = lowercase
        self.drop_punctuation = drop_punctuation
        self._jieba = jieba.Tokenizer()
        # jieba joins tmp_dir and cache_file; a bare file name keeps it inside.
        self._jieba.tmp_dir = self.cache_dir
        self._jieba.cache_file = CACHE_FILE
        if user_dict is not None:
            self._jieba.load_userdict(os.fspath(user_dict))

    @property
    def cache_path(self):
        return os.path.join(self.cache_dir, CACHE_FILE)

    def initialize(self):
        """Build or load jieba's dictionary now rather than on the first text."""
        self._jieba.initialize()
        return self

    def tokenize(self, text):
        """One text (str or UTF-8 bytes) -> list of kept words."""
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if self.lowercase:
            text = text.lower()
        tokens = []
        for token in self._jieba.cut(text, HMM=self.hmm):
            token = token.strip()
            if not token or token in self.stopwords:
                continue
            if self.drop_punctuation and _is_punctuation(token):
                continue
            tokens.append(token)
        return tokens

    def __call__(self, text):
        """One text -> its kept words joined by single spaces."""
        return " ".join(self.tokenize(text))

    def _segment_array(self, texts):
        texts = np.asarray(texts, dtype=object)
        out = [self(t).encode("utf-8") for t in texts.reshape(-1)]
        return np.array(out, dtype=object).reshape(texts.shape)

    def tf_tokenize(self, texts):
        """tf.string tensor of any shape -> same-shape tensor of space-joined words.

        Works eagerly and inside `tf.data.Dataset.map` (graph mode) through
        `tf.numpy_function`.
        """
        import tensorflow as tf

        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        out = tf.numpy_function(
            self._segment_array, [texts], tf.string, stateful=False, name="jieba_tokenize"
        )
        out.set_shape(texts.shape)
        return out
