"""Lucene's English analysis and BM25 length norm, reimplemented for the ``bm25s`` backend.

Upstream WebShop searches a pyserini (Anserini 0.25, Lucene 9) index whose analyzer is
``StandardTokenizer`` -> English possessive filter -> lower-case -> Lucene's 33 English stop
words -> ``PorterStemFilter``. To return the same first page as that index without a JVM,
``analyze`` follows each stage:

* **Tokenizer** (``tokenize``): word boundaries of Unicode UAX#29 as Lucene's StandardTokenizer
  applies them. Letters and digits join (``4type``, ``model3``); between two *letters* a
  MidLetter (``:`` and the full-width ``：``, ``·``) or MidNumLet (``.``, ``’``) or ``'`` joins
  (``fit:fits``, ``d.o.n``, ``men's``); between two *digits* a MidNum (``,``, ``;``) or MidNumLet
  or ``'`` joins (``3.1``, ``1,000``); anything else splits, so ``4.type`` is ``4`` + ``type``
  and ``a.1`` is ``a`` + ``1``. ``_`` (ExtendNumLet) joins letters and digits. Each CJK
  ideograph and Hiragana character is its own token; combining marks stay with their letter.
  An Extended_Pictographic character (``❤``, ``™``, ``👑``), with its variation selector,
  skin-tone modifier or ZWJ sequence, is one token, as Lucene's ``<EMOJI>`` type: it counts in
  the document length.
* **Possessive**: a trailing ``'s`` / ``’s`` / ``＇s`` is removed (before lower-casing, either case).
* **Lower-case** per character (a character whose lower case is longer is kept, as Java does).
* **Stop words**: ``LUCENE_STOP_WORDS``; **stemmer**: ``porter.stem`` (Lucene's Porter variant).

``quantized_length`` is Lucene's one-byte document-length norm (``SmallFloat.intToByte4`` then
``byte4ToInt``): lengths below 40 are exact, longer ones keep 4 significant bits, so BM25 sees
e.g. 100 tokens as 96. BM25 uses that quantised length against the exact average length.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from tsr_verl.envs.webshop.porter import stem

LUCENE_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
"""Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`` (Anserini's default stop set)."""

# Word_Break classes (UAX#29) that matter for product text.
LETTER, NUMERIC, EXTEND_NUM, MID_LETTER, MID_NUM_LET, SINGLE_QUOTE, MID_NUM, EXTEND, SINGLE, EMOJI, OTHER = range(11)
_ZWJ = "\u200d"
# Extended_Pictographic (Unicode emoji-data), which Lucene's tokenizer emits as <EMOJI> tokens.
_PICTOGRAPHIC: tuple[tuple[int, int], ...] = tuple(
    (int(a, 16), int(b or a, 16))
    for a, _, b in (
        r.partition("-")
        for r in """
    a9 ae 203c 2049 2122 2139 2194-2199 21a9-21aa 231a-231b 2328 2388 23cf 23e9-23f3 23f8-23fa 24c2
    25aa-25ab 25b6 25c0 25fb-25fe 2600-2605 2607-2612 2614-2685 2690-2705 2708-2712 2714 2716 271d
    2721 2728 2733-2734 2744 2747 274c 274e 2753-2755 2757 2763-2767 2795-2797 27a1 27b0 27bf
    2934-2935 2b05-2b07 2b1b-2b1c 2b50 2b55 3030 303d 3297 3299 1f000-1f0ff 1f10d-1f10f 1f12f
    1f16c-1f171 1f17e-1f17f 1f18e 1f191-1f19a 1f1ad-1f1e5 1f201-1f20f 1f21a 1f22f 1f232-1f23a
    1f23c-1f23f 1f249-1f3fa 1f400-1f53d 1f546-1f64f 1f680-1f6ff 1f774-1f77f 1f7d5-1f7ff 1f80c-1f80f
    1f848-1f84f 1f85a-1f85f 1f888-1f88f 1f8ae-1f8ff 1f90c-1f93a 1f93c-1f945 1f947-1faff 1fc00-1fffd
    """.split()
    )
)
_MID_LETTER = frozenset(":\u00b7\u0387\u05f4\u2027\ufe13\ufe55\uff1a")
_MID_NUM_LET = frozenset(".\u2018\u2019\u2024\ufe52\uff07\uff0e")
_MID_NUM = frozenset(",;\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b")
_EXTEND_NUM_LET = frozenset("_\u203f\u2040\u2054\ufe33\ufe34\ufe4d\ufe4e\ufe4f\uff3f")
_POSSESSIVE_QUOTES = frozenset("'\u2019\uff07")
_WORD_CLASSES = frozenset({LETTER, NUMERIC, EXTEND_NUM})


@lru_cache(maxsize=8192)
def char_class(ch: str) -> int:
    """The UAX#29 word-break class of ``ch`` used by ``tokenize`` (one of the module constants)."""
    if ch.isascii():
        if ch.isalpha():
            return LETTER
        if ch.isdigit():
            return NUMERIC
    if ch == "'":
        return SINGLE_QUOTE
    if ch in _MID_LETTER:
        return MID_LETTER
    if ch in _MID_NUM_LET:
        return MID_NUM_LET
    if ch in _MID_NUM:
        return MID_NUM
    if ch in _EXTEND_NUM_LET:
        return EXTEND_NUM
    code = ord(ch)
    if code == 0x200B:  # zero-width space: Word_Break=Other, unlike the other format characters
        return OTHER
    if any(lo <= code <= hi for lo, hi in _PICTOGRAPHIC):
        return EMOJI
    cat = unicodedata.category(ch)
    if 0x1F3FB <= code <= 0x1F3FF:  # skin-tone modifiers extend the emoji before them
        return EXTEND
    if cat == "Nd":
        return NUMERIC
    if cat in ("Mn", "Mc", "Me", "Cf"):
        return EXTEND
    if cat.startswith("L"):
        name = unicodedata.name(ch, "")
        if name.startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA")):
            return SINGLE
        return LETTER
    return OTHER


def _joins(prev: int, mid: int, nxt: int) -> bool:
    """Whether ``prev mid nxt`` stays one word across the middle character (WB6/7, WB11/12)."""
    if prev == LETTER and nxt == LETTER:
        return mid in (MID_LETTER, MID_NUM_LET, SINGLE_QUOTE)
    if prev == NUMERIC and nxt == NUMERIC:
        return mid in (MID_NUM, MID_NUM_LET, SINGLE_QUOTE)
    return False


def tokenize(text: str) -> list[str]:
    """Lucene StandardTokenizer's word tokens of ``text`` (see the module docstring)."""
    classes = [char_class(c) for c in text]
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        cls = classes[i]
        if cls in (SINGLE, EMOJI):
            j = i + 1
            while j < n and (classes[j] == EXTEND or (cls == EMOJI and text[j - 1] == _ZWJ and classes[j] == EMOJI)):
                j += 1  # marks (and, for emoji, variation selectors, modifiers and ZWJ sequences) attach
            out.append(text[i:j])
            i = j
            continue
        if cls not in _WORD_CLASSES:
            i += 1
            continue
        start, last, j = i, cls, i + 1
        while j < n:
            c = classes[j]
            if c == EXTEND:  # WB4: marks and format characters belong to the character before
                j += 1
            elif c in _WORD_CLASSES:
                last, j = c, j + 1
            elif j + 1 < n and _joins(last, c, classes[j + 1]):
                last, j = classes[j + 1], j + 2
            else:
                break
        token = text[start:j]
        if any(classes[k] in (LETTER, NUMERIC) for k in range(start, j)):
            out.append(token)
        i = j
    return out


def _lower(token: str) -> str:
    if token.isascii():
        return token.lower()
    return "".join(low if len(low := c.lower()) == 1 else c for c in token)


def analyze(text: str) -> list[str]:
    """Index/query terms of ``text``: tokens, possessive removed, lower-cased, stop words out, stemmed."""
    out = []
    for token in tokenize(text):
        if len(token) >= 2 and token[-1] in "sS" and token[-2] in _POSSESSIVE_QUOTES:
            token = token[:-2]
        token = _lower(token)
        if token and token not in LUCENE_STOP_WORDS:
            out.append(stem(token))
    return out


def _int4(value: int) -> int:
    """SmallFloat ``longToInt4``: 3 mantissa bits and a shift, exact below 8."""
    bits = value.bit_length()
    if bits < 4:
        return value
    shift = bits - 4
    return ((value >> shift) & 0x07) | ((shift + 1) << 3)


def _from_int4(code: int) -> int:
    shift = (code >> 3) - 1
    return code & 0x07 if shift == -1 else ((code & 0x07) | 0x08) << shift


_FREE_VALUES = 255 - _int4(2**31 - 1)  # 24 small lengths get their own byte value


def length_norm_byte(length: int) -> int:
    """Lucene's ``SmallFloat.intToByte4(length)`` as an unsigned byte (0-255)."""
    if length < 0:
        raise ValueError(f"a document length is >= 0, got {length}")
    return length if length < _FREE_VALUES else _FREE_VALUES + _int4(length - _FREE_VALUES)


def quantized_length(length: int) -> int:
    """The document length BM25 sees after Lucene's one-byte norm (``byte4ToInt(intToByte4(n))``)."""
    code = length_norm_byte(length)
    return code if code < _FREE_VALUES else _FREE_VALUES + _from_int4(code - _FREE_VALUES)
