"""Lucene's analysis for the bm25s backend (``analysis.py``, ``porter.py``): UAX#29 tokenizer rules,
the Porter variant of Lucene's PorterStemFilter, the one-byte length norm."""

from __future__ import annotations

import pytest

from tsr_verl.envs.webshop.analysis import analyze, length_norm_byte, quantized_length, tokenize
from tsr_verl.envs.webshop.porter import stem


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("fit:fits", ["fit:fits"]),  # ':' is MidLetter: joins letters
        ("size：large", ["size：large"]),  # so is the full-width colon
        ("3:1 ratio", ["3", "1", "ratio"]),  # ... but not digits
        ("4.type", ["4", "type"]),  # '.' joins letter-letter or digit-digit only
        ("a.1 b.c 3.1 d.o.n.", ["a", "1", "b.c", "3.1", "d.o.n"]),
        ("1,000 mAh; 4;5", ["1,000", "mAh", "4;5"]),  # MidNum joins digits
        ("model3x x-large snake_case", ["model3x", "x", "large", "snake_case"]),
        ("men's 90's", ["men's", "90", "s"]),  # "'" joins letters, not digit-letter
        ("I ❤️ it ™ 👍🏽", ["I", "❤️", "it", "™", "👍🏽"]),  # Extended_Pictographic: <EMOJI> tokens
        ("中文 ok", ["中", "文", "ok"]),
    ],
)
def test_tokenizer_follows_uax29(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [
        ("assembly", "assembl"),
        ("technology", "technolog"),
        ("us", "us"),
        ("is", "is"),
        ("ies", "i"),
        ("caresses", "caress"),
        ("ponies", "poni"),
        ("agreed", "agre"),
        ("feed", "feed"),
        ("hopping", "hop"),
        ("filing", "file"),
        ("happy", "happi"),
        ("sky", "sky"),
        ("relational", "relat"),
        ("conditional", "condit"),
        ("generalizations", "gener"),
        ("oscillators", "oscil"),
        ("adoption", "adopt"),
        ("controll", "control"),
        ("electrical", "electr"),
        ("hopefulness", "hope"),
        ("sensibiliti", "sensibl"),
        ("batteries", "batteri"),
    ],
)
def test_porter_is_lucenes_variant(word: str, stemmed: str) -> None:
    """Martin Porter's reference algorithm: <= 2 letters unchanged, bli->ble, logi->log (not Snowball's)."""
    assert stem(word) == stemmed


def test_analyze_chain() -> None:
    assert analyze("The Men's Running-Shoes for Batteries, fit:fits 4.type ❤") == [
        "men",
        "run",
        "shoe",
        "batteri",
        "fit:fit",
        "4",
        "type",
        "❤",
    ]


def test_length_norm_is_lucenes_smallfloat() -> None:
    assert [quantized_length(n) for n in (0, 1, 23, 24, 25, 39, 40, 41, 100, 1000)] == [
        0,
        1,
        23,
        24,
        25,
        39,
        40,
        40,
        96,
        984,
    ]
    assert length_norm_byte(2**31 - 1) == 255
    codes = [length_norm_byte(n) for n in range(5000)]
    assert codes == sorted(codes)  # monotone
    assert all(quantized_length(n) <= n for n in range(5000))
