"""The MAMI paper's text cleaning as TensorFlow string ops, so that an exported
SavedModel can take a raw meme transcription.

`clean_mami_text_tf` applies, in the same order, the steps of
`memotion_tf.datasets.mami.clean_mami_text` (URLs removed, non-ASCII removed,
lower case, apostrophes deleted, other punctuation turned into spaces,
whitespace collapsed). TensorFlow's regular expressions are RE2's: `\\w` and
`\\b` are ASCII-only there and Unicode-aware in Python, so the two agree on
every ASCII text and on non-ASCII text except for a URL or domain written
right next to a non-ASCII letter (e.g. "café.com": Python removes the whole
domain, RE2 keeps "caf com"). The tests compare both on the cleaning cases of
`tests/test_mami.py` and on synthetic memes.
"""

import re
import string

import tensorflow as tf

from memotion_tf.datasets.mami import _URL

# Python's str.split() whitespace: ASCII \t \n \v \f \r, \x1c-\x1f, space, and
# the Unicode spaces. RE2 needs them spelled out (its \s is [\t\n\f\r ]).
_UNICODE_SPACES = r"\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_NOT_SPACE = r"[^\t\n\x0b\x0c\r\x1c-\x1f " + _UNICODE_SPACES + r"]"
_ASCII_SPACE_RUN = r"[\t\n\x0b\x0c\r\x1c-\x1f ]+"

# The Python pattern with \S spelled as Python understands it and the
# IGNORECASE flag inline.
_URL_RE2 = "(?i)" + _URL.pattern.replace(r"\S", _NOT_SPACE)
_APOSTROPHES_RE2 = "['`]"
_PUNCTUATION_RE2 = "[" + "".join(re.escape(c) if not c.isalnum() else c
                                 for c in string.punctuation if c not in "'`") + "]"


def clean_mami_text_tf(text):
    """`clean_mami_text` on a string tensor of any shape (usable in tf.data and
    inside a SavedModel)."""
    text = tf.strings.regex_replace(text, _URL_RE2, " ")
    text = tf.strings.regex_replace(text, r"[^\x00-\x7f]", "")
    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, _APOSTROPHES_RE2, "")
    text = tf.strings.regex_replace(text, _PUNCTUATION_RE2, " ")
    text = tf.strings.regex_replace(text, _ASCII_SPACE_RUN, " ")
    return tf.strings.regex_replace(text, "^ | $", "")
