import math

import pytest

from memotion_tf.preprocessing.cleaning import clean_meme_text


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        # URLs, with and without a scheme, and bare web addresses.
        ("look at this https://t.co/AbC123 lol", "look at this lol"),
        ("go to www.example.org now", "go to now"),
        ("visit reddit.com/r/memes now", "visit now"),
        # Generator watermarks, any case, including ones that are not addresses.
        ("ONE DOES NOT SIMPLY imgflip.com", "ONE DOES NOT SIMPLY"),
        ("LOOK AT THIS MEMEGENERATOR.NET", "LOOK AT THIS"),
        ("Made with Mematic I am sad", "I am sad"),
        ("I'm fine - imgflip.com", "I'm fine"),
        # Handles, Reddit user names and e-mail addresses.
        ("follow @dankmemes for more", "follow for more"),
        ("credit u/funnyguy lol", "credit lol"),
        ("mail me at a.b@gmail.com ok", "mail me at ok"),
        # Run-on sentences.
        ("so funnyWhen you see it", "so funny. When you see it"),
        ("he said hi.Then left", "he said hi. Then left"),
        ("WHEN MONDAY COMES\nME SAD", "WHEN MONDAY COMES. ME SAD"),
        ("already ends.\nnext line", "already ends. next line"),
        # Things that must survive.
        ("Watch on YouTube with my iPhone at McDonald", "Watch on YouTube with my iPhone at McDonald"),
        ("price is 3.50 dollars, e.g. cheap", "price is 3.50 dollars, e.g. cheap"),
        ("wait for it... So", "wait for it... So"),
        ("automematics rule", "automematics rule"),
        # Whitespace and punctuation left by the removals.
        ("top. imgflip.com .\nbottom", "top. bottom"),
        ("  hi ,   there !  ", "hi, there!"),
    ],
)
def test_clean_meme_text_cases(raw, cleaned):
    assert clean_meme_text(raw) == cleaned


def test_everything_combined():
    raw = "@user so funnyWhen you realize\nIT'S MONDAY https://bit.ly/x quickmeme.com"
    assert clean_meme_text(raw) == "so funny. When you realize. IT'S MONDAY"


@pytest.mark.parametrize("raw", ["", "   ", None, math.nan, "imgflip.com", "@someone https://x.y/z"])
def test_empty_or_only_noise_gives_empty_string(raw):
    assert clean_meme_text(raw) == ""


def test_bytes_are_decoded():
    assert clean_meme_text("caf\u00e9 imgflip.com".encode("utf-8")) == "caf\u00e9"


def test_split_lines_off_joins_with_space():
    assert clean_meme_text("top line\nbottom line", split_lines=False) == "top line bottom line"


def test_deterministic_and_idempotent():
    raw = "so funnyWhen you see it imgflip.com\nnext"
    once = clean_meme_text(raw)
    assert clean_meme_text(raw) == once
    assert clean_meme_text(once) == once
