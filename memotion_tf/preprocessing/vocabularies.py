"""Vocabularies computed from the training text, for models trained from scratch.

Two tokenisers of the BiliMemeNet reproduction need a vocabulary when no
pretrained preset supplies one (the embedded default and the tests):

- `word_piece_vocabulary`: BERT's WordPiece, computed by keras-hub's
  `compute_word_piece_vocabulary` (tensorflow-text's learner). BERT's
  pre-tokeniser splits every CJK character into its own word, so Chinese text
  gets one token per character and WordPiece pieces only for Latin words and
  digits; the learner still proposes `##<CJK character>` suffixes, which a
  BERT tokeniser never produces for CJK, so they are dropped.
- `byte_level_vocabulary`: a GPT-2 byte-level BPE vocabulary for
  `keras_hub.models.GPT2Tokenizer`. It holds the 256 byte symbols (so any text
  tokenises, as with GPT-2 itself) plus one merged token per non-ASCII
  character seen in the given text: the merges join the 2-4 UTF-8 bytes of
  each such character and never cross a character boundary, so Chinese text
  becomes one token per character, like the character vocabularies of Chinese
  GPT-2 and Pangu-alpha. Unseen characters fall back to their byte tokens.
  keras-hub has no BPE trainer; this is the whole "training".
"""

import collections

import tensorflow as tf

END_OF_TEXT = "<|endoftext|>"


def _is_cjk(ch):
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2CEAF or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


def word_piece_vocabulary(texts, vocabulary_size, lowercase=True,
                          reserved_tokens=("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]")):
    """A BERT WordPiece vocabulary (list of tokens) learned from `texts`.

    `vocabulary_size` caps the learner's output; the reserved tokens come first
    (`[PAD]` = 0), as `keras_hub.models.BertTokenizer` expects.
    """
    import keras_hub

    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("cannot compute a vocabulary from no text")
    data = tf.data.Dataset.from_tensor_slices(texts).batch(1024)
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        data, vocabulary_size, lowercase=lowercase, split_on_cjk=True,
        reserved_tokens=list(reserved_tokens),
    )
    return [t for t in vocabulary if not (t.startswith("##") and len(t) == 3 and _is_cjk(t[2]))]


def _byte_symbols():
    # GPT-2's reversible byte -> printable-unicode map, as keras-hub's
    # BytePairTokenizer applies it before merging.
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    byte_list, unicode_list = bytes_to_unicode()
    return {b[0]: u for b, u in zip(byte_list, unicode_list)}


def byte_level_vocabulary(texts, min_count=1, special_tokens=(END_OF_TEXT,)):
    """(vocabulary dict token -> id, merges list) for a GPT-2 byte-level BPE.

    Ids: the special tokens first (`<|endoftext|>` = 0, which GPT-2's
    tokenizer also uses as its padding id), then the 256 byte symbols, then one
    token per non-ASCII character occurring at least `min_count` times in
    `texts`, most frequent first (ties by first occurrence). Merge ranks follow
    the same order.
    """
    symbols = _byte_symbols()
    vocabulary = {}
    for token in special_tokens:
        vocabulary[token] = len(vocabulary)
    for byte in range(256):
        vocabulary[symbols[byte]] = len(vocabulary)
    counts = collections.Counter(ch for text in texts for ch in str(text) if ord(ch) > 127)
    merges = []
    seen_merges = set()
    for ch, count in counts.most_common():
        if count < min_count:
            break
        pieces = [symbols[b] for b in ch.encode("utf-8")]
        merged = pieces[0]
        for piece in pieces[1:]:
            rule = f"{merged} {piece}"
            merged += piece
            if rule not in seen_merges:
                seen_merges.add(rule)
                merges.append(rule)
            if merged not in vocabulary:
                vocabulary[merged] = len(vocabulary)
    return vocabulary, merges


def gpt2_tokenizer_from_texts(texts, min_count=1):
    """A `keras_hub.models.GPT2Tokenizer` on `byte_level_vocabulary(texts)`.

    It runs the TensorFlow path eagerly too (`_allow_python_workflow=False`),
    so eager calls, tf.data and the exported SavedModel tokenise identically.
    """
    import keras_hub

    vocabulary, merges = byte_level_vocabulary(texts, min_count=min_count)
    return keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges,
                                          _allow_python_workflow=False)
