"""Text vectorisation equivalent to the Keras Tokenizer + pad_sequences that UoR used.

`keras.preprocessing.text.Tokenizer` (default arguments) lower-cases, replaces
the characters of `TOKENIZER_FILTERS` by spaces, splits on spaces, numbers words
by frequency and drops words it has not seen. `pad_sequences(maxlen=192)` then
pads and truncates at the *front* (`padding="pre"`, `truncating="pre"`).

`SequenceVectorizer` does the same with `keras.layers.TextVectorization`, so it
runs inside tf.data and inside the exported SavedModel:
- vocabulary from the training split only (`adapt`);
- unknown words are dropped (TextVectorization's OOV id 1 is filtered out), as
  the Tokenizer without `oov_token` does;
- ids start at 2 instead of 1 (0 = padding, 1 = the unused OOV slot), which
  changes nothing a model can learn;
- front padding and front truncation to `sequence_length`.
"""

import keras
import tensorflow as tf

TOKENIZER_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_FILTER_PATTERN = "[" + "".join("\\" + c if c in "\\^]-[" else c for c in TOKENIZER_FILTERS) + "]"


def tokenizer_standardize(texts):
    """Lower-case and blank out the Keras Tokenizer's filter characters."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    return tf.strings.regex_replace(texts, _FILTER_PATTERN, " ")


def pad_front(ragged_ids, length):
    """Dense [batch, length] ids, keeping the last `length` tokens and padding
    with 0 at the front (pad_sequences' defaults)."""
    ragged_ids = ragged_ids[:, -length:]
    lengths = ragged_ids.row_lengths()
    dense = ragged_ids.to_tensor(default_value=0, shape=[None, length])
    source = tf.range(length, dtype=lengths.dtype)[None, :] - (length - lengths)[:, None]
    gathered = tf.gather(dense, tf.maximum(source, 0), batch_dims=1)
    return tf.where(source >= 0, gathered, tf.zeros_like(gathered))


@keras.saving.register_keras_serializable(package="memotion_tf")
class SequenceVectorizer(keras.layers.Layer):
    """Raw strings -> front-padded int32 token ids of fixed length.

    Args:
        sequence_length: length after padding/truncation (UoR: 192).
        max_tokens: optional vocabulary cap; None keeps every training word.

    Example:
    >>> v = SequenceVectorizer(sequence_length=4)
    >>> v.adapt(["a b b", "c"])
    >>> v(tf.constant(["b zzz a"]))  # [[0, 0, 2, 3]]
    """

    def __init__(self, sequence_length=192, max_tokens=None, vocabulary=None, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.max_tokens = max_tokens
        self.lookup = keras.layers.TextVectorization(
            max_tokens=max_tokens,
            standardize=tokenizer_standardize,
            split="whitespace",
            output_mode="int",
            ragged=True,
            vocabulary=vocabulary,
        )

    def adapt(self, texts, batch_size=256):
        ds = tf.data.Dataset.from_tensor_slices(list(texts)).batch(batch_size)
        self.lookup.adapt(ds)

    @property
    def vocabulary_size(self):
        return self.lookup.vocabulary_size()

    def get_vocabulary(self):
        return self.lookup.get_vocabulary()

    def _known_ids(self, texts):
        ids = self.lookup(texts)
        return tf.ragged.boolean_mask(ids, ids > 1)

    def call(self, texts):
        return tf.cast(pad_front(self._known_ids(texts), self.sequence_length), "int32")

    def token_counts(self, texts):
        """int32 [batch]: in-vocabulary words of each text before truncation;
        above `sequence_length`, `call` keeps only the last ones."""
        return tf.cast(self._known_ids(texts).row_lengths(), "int32")

    def get_config(self):
        config = super().get_config()
        config.update(
            sequence_length=self.sequence_length,
            max_tokens=self.max_tokens,
            vocabulary=self.get_vocabulary(),
        )
        return config
