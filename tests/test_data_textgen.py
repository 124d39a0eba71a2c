"""Tests of espnet_plugin.data.textgen: the seeded sentence generator."""
from __future__ import annotations

import re

import pytest

from espnet_plugin.data.textgen import (
    generate_sentences,
    normalize_text,
    number_to_words,
    plural,
    to_synth_text,
    vocabulary,
)
from espnet_plugin.errors import ConfigError


def test_reproducible_and_seed_dependent():
    a = generate_sentences(50, seed=3)
    assert a == generate_sentences(50, seed=3)
    assert a != generate_sentences(50, seed=4)
    assert generate_sentences(20, seed=3) == a[:20]  # a prefix: n does not change the stream


def test_distinct_normalised_and_bounded():
    s = generate_sentences(400, seed=0, min_words=4, max_words=14)
    assert len(s) == len(set(s)) == 400
    for x in s:
        assert re.fullmatch(r"[A-Z']+( [A-Z']+)*", x), x
        assert 4 <= len(x.split()) <= 14
        assert normalize_text(x) == x
    lengths = {len(x.split()) for x in s}
    assert min(lengths) <= 5 and max(lengths) >= 12  # the whole range is used


def test_variety_of_templates_and_vocabulary():
    s = generate_sentences(640, seed=0)
    words = {w for x in s for w in x.split()}
    assert len(words) >= 250
    assert words <= vocabulary()
    assert 250 <= len(vocabulary()) <= 1000  # "a few hundred common words"
    starts = {x.split()[0] for x in s}
    assert {"DID", "IS", "THERE", "PLEASE"} <= starts  # questions, quantities, imperatives
    assert any("O'CLOCK" in x for x in s) and any("HUNDRED" in x for x in s)
    assert any(re.search(r"\b[A-Z]+'S\b", x) for x in s)  # possessives


def test_tight_bounds_respected():
    s = generate_sentences(30, seed=1, min_words=6, max_words=6)
    assert all(len(x.split()) == 6 for x in s)


def test_bad_bounds_raise():
    with pytest.raises(ConfigError):
        generate_sentences(5, seed=0, min_words=5, max_words=4)
    with pytest.raises(ConfigError, match="distinct"):
        generate_sentences(10_000, seed=0, min_words=1, max_words=1)


@pytest.mark.parametrize("n,words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (42, "forty two"),
    (100, "one hundred"), (305, "three hundred and five"), (999, "nine hundred and ninety nine"),
    (1000, "one thousand"), (2005, "two thousand and five"),
    (12345, "twelve thousand three hundred and forty five"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_normalize_text_and_helpers():
    assert normalize_text("It's 'quoted', well-known -- café!") == "IT'S QUOTED WELL KNOWN CAFE"
    assert normalize_text("don\u2019t  stop") == "DON'T STOP"
    assert normalize_text("Chapter 12.") == "CHAPTER"
    assert to_synth_text("DON'T STOP") == "don't stop"
    assert [plural(w) for w in ["box", "city", "key", "child", "dog"]] == [
        "boxes", "cities", "keys", "children", "dogs"]
