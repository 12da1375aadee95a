"""Meme text cleaning of CN-HIT-MI.T (section 4.2).

The paper names three kinds of noise in the OCR text of Memotion 7k: (a)
meaningless text such as URLs, (b) missing punctuation that runs two sentences
into one, (c) sentences in the wrong order. `clean_meme_text` fixes (a) and
(b) with regular expressions; (c) needs a human (or a model) and is not done.
The paper does not list its rules, so these are ours:

1. URLs (`http(s)://...`, `www....`) and bare web addresses (`name.com/...`
   for the top-level domains in `WEB_SUFFIXES`) are removed; they are meme
   site watermarks or links, never part of the joke.
2. Meme generator watermarks (`WATERMARKS`, e.g. "imgflip.com", "made with
   mematic") are removed, case-insensitively and as whole words.
3. E-mail addresses, @handles and Reddit user names (`u/name`) are removed.
4. Run-on sentences are split:
   - a word of two or more lower-case letters glued to a capitalised word
     becomes two sentences ("funnyWhen" -> "funny. When"). Words starting with
     a capital or a single lower-case letter are left alone, so brand names
     such as "YouTube", "iPhone" and "McDonald" survive; an all-lower-case
     compound such as "wikiHow" is split (a known false positive);
   - sentence punctuation glued to the next capitalised word gets a space
     ("funny.When" -> "funny. When");
   - a line break between two lines of text is a sentence break (OCR reads
     the top and bottom captions as lines); a line that already ends in
     punctuation only gets a space.
   All-caps text ("FUNNYWHEN") has no case boundary and cannot be split.
5. Whitespace is collapsed, spaces before punctuation and separators left
   dangling by the removals are dropped.

The function is deterministic and pure Python (`re`); run it on the training
CSV before building the tf.data pipeline. The paper cleans only the training
text; its KL consistency loss (`memotion_tf.losses.consistency`) ties the
cleaned and raw views together.
"""

import re

# Watermarks of meme generators and aggregators seen on Memotion-style memes.
WATERMARKS = (
    "imgflip.com", "imgflip", "memegenerator.net", "memegenerator", "quickmeme.com",
    "quickmeme", "memecrunch.com", "memecrunch", "makeameme.org", "makeameme",
    "memecenter.com", "memecenter", "memedroid.com", "memedroid", "cheezburger.com",
    "ifunny.co", "ifunny", "9gag.com", "9gag", "me.me", "made with mematic", "mematic",
    "livememe.com", "memeful.com", "troll.me", "memes.com",
)
WEB_SUFFIXES = ("com", "net", "org", "co", "io", "ly", "me", "tv", "gg", "info", "uk", "us")

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_WEB_ADDRESS = re.compile(
    r"\b(?:[a-z0-9-]+\.)+(?:" + "|".join(WEB_SUFFIXES) + r")\b(?:/\S*)?", re.IGNORECASE
)
_EMAIL = re.compile(r"\S+@\S+\.[a-z]{2,}\b", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w+|(?<![\w/])/?u/[\w-]+", re.IGNORECASE)
_GLUED_WORDS = re.compile(r"\b([a-z]{2,})(?=[A-Z][a-z])")
_GLUED_PUNCTUATION = re.compile(r"(?<=[a-z])([.!?]+)(?=[A-Z])")
_SENTENCE_END = ".!?:;,"
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.!?,;:])")
# ". ." left where a removal sat between two breaks; an ellipsis "..." is kept.
_REPEATED_BREAK = re.compile(r"([.!?])(?:\s+\.(?!\.))+")
_DANGLING = re.compile(r"^[\s.,;:|/\\\-]+|[\s,;:|/\\\-]+$")


def _watermark_pattern(watermarks):
    alternatives = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in
                            sorted(watermarks, key=len, reverse=True))
    # Whole words only: "mematic" must not eat "automematics".
    return re.compile(r"(?<![\w.])(?:" + alternatives + r")(?![\w])", re.IGNORECASE)


_WATERMARK = _watermark_pattern(WATERMARKS)


def _join_lines(text):
    lines = [line.strip() for line in text.splitlines()]
    out = ""
    for line in lines:
        if not line:
            continue
        if out and out[-1] not in _SENTENCE_END:
            out += "."
        out = f"{out} {line}" if out else line
    return out


def clean_meme_text(text, split_lines=True):
    """Remove URLs, watermarks and handles from meme text and split run-on sentences.

    Args:
        text: the meme's OCR text; None, NaN and other non-strings give "",
            bytes are decoded as UTF-8.
        split_lines: treat line breaks as sentence breaks (rule 4 of the module
            docstring); False joins lines with a space.

    Example:
    >>> clean_meme_text("so funnyWhen you see it imgflip.com")
    'so funny. When you see it'
    >>> clean_meme_text("follow @dankmemes https://t.co/xyz")
    'follow'

    Reference: Li et al., "CN-HIT-MI.T at SemEval-2020 Task 8: Memotion
    Analysis Based on BERT", 2020, section 4.2.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return ""
    # Watermarks first: "imgflip.com" is also a web address, "made with mematic" is not.
    text = _WATERMARK.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _EMAIL.sub(" ", text)
    text = _WEB_ADDRESS.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    text = _join_lines(text) if split_lines else " ".join(text.splitlines())
    text = _GLUED_WORDS.sub(r"\1. ", text)
    text = _GLUED_PUNCTUATION.sub(r"\1 ", text)
    text = " ".join(text.split())
    text = _REPEATED_BREAK.sub(r"\1", text)
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    return _DANGLING.sub("", text)
