"""The Porter stemmer as Lucene's ``PorterStemFilter`` applies it (written here from the algorithm).

Upstream WebShop's search index (pyserini/Anserini's default English analyzer) stems every term
with Lucene's ``PorterStemmer``, a port of Martin Porter's own reference implementation. That
reference differs from the published 1980 algorithm and from Snowball's ``porter`` stemmer in
three ways that change WebShop rankings, and this module follows the reference:

* words of one or two characters are returned unchanged (Snowball: ``us`` -> ``u``);
* in step 2 the suffix ``bli`` (not ``abli``) becomes ``ble`` (``assembly`` -> ``assembl``;
  Snowball leaves ``assembli``);
* step 2 also turns ``logi`` into ``log`` (``technology`` -> ``technolog``; Snowball leaves
  ``technologi``).

Everything else is the classic algorithm: the measure ``m`` of a stem is the number of
vowel-consonant sequences, ``y`` is a vowel after a consonant, and steps 1a/1b/1c, 2, 3, 4 and
5a/5b remove suffixes in that order. Characters outside ``a-z`` count as consonants, as in
Lucene. Input is expected lower-cased (the analyzer lower-cases before stemming).
"""

from __future__ import annotations

import functools

_VOWELS = frozenset("aeiou")

# Step 2 and step 3 rules: suffix -> replacement, applied when the stem's measure is > 0.
# Grouped by the suffix's second-to-last letter (step 2) or last letter (step 3) as in the
# reference implementation, which matters where one suffix ends another ("ational"/"tional").
_STEP2: tuple[tuple[str, str], ...] = (
    ("ational", "ate"),
    ("tional", "tion"),
    ("enci", "ence"),
    ("anci", "ance"),
    ("izer", "ize"),
    ("bli", "ble"),
    ("alli", "al"),
    ("entli", "ent"),
    ("eli", "e"),
    ("ousli", "ous"),
    ("ization", "ize"),
    ("ation", "ate"),
    ("ator", "ate"),
    ("alism", "al"),
    ("iveness", "ive"),
    ("fulness", "ful"),
    ("ousness", "ous"),
    ("aliti", "al"),
    ("iviti", "ive"),
    ("biliti", "ble"),
    ("logi", "log"),
)
_STEP3: tuple[tuple[str, str], ...] = (
    ("icate", "ic"),
    ("ative", ""),
    ("alize", "al"),
    ("iciti", "ic"),
    ("ical", "ic"),
    ("ful", ""),
    ("ness", ""),
)
_STEP4: tuple[str, ...] = (
    "al",
    "ance",
    "ence",
    "er",
    "ic",
    "able",
    "ible",
    "ant",
    "ement",
    "ment",
    "ent",
    "ion",
    "ou",
    "ism",
    "ate",
    "iti",
    "ous",
    "ive",
    "ize",
)


def _consonant(word: str, i: int) -> bool:
    """Whether ``word[i]`` is a consonant: not a vowel, and ``y`` only at the start or after a vowel."""
    ch = word[i]
    if ch in _VOWELS:
        return False
    if ch == "y":
        return i == 0 or not _consonant(word, i - 1)
    return True


def measure(stem: str) -> int:
    """Porter's ``m``: the number of vowel->consonant transitions in ``stem`` ([C](VC)^m[V])."""
    m, prev_vowel = 0, False
    for i in range(len(stem)):
        vowel = not _consonant(stem, i)
        if prev_vowel and not vowel:
            m += 1
        prev_vowel = vowel
    return m


def _has_vowel(stem: str) -> bool:
    return any(not _consonant(stem, i) for i in range(len(stem)))


def _double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _consonant(word, len(word) - 1)


def _cvc(word: str) -> bool:
    """Ends consonant-vowel-consonant, the last not ``w``, ``x`` or ``y`` (e.g. ``hop``, not ``snow``)."""
    n = len(word)
    if n < 3 or not _consonant(word, n - 1) or _consonant(word, n - 2) or not _consonant(word, n - 3):
        return False
    return word[-1] not in "wxy"


def _step1ab(w: str) -> str:
    if w.endswith("s"):
        if w.endswith("sses"):
            w = w[:-2]
        elif w.endswith("ies"):
            w = w[:-2]
        elif not w.endswith("ss"):
            w = w[:-1]
    if w.endswith("eed"):
        return w[:-1] if measure(w[:-3]) > 0 else w
    for suffix in ("ed", "ing"):
        if w.endswith(suffix) and _has_vowel(w[: -len(suffix)]):
            w = w[: -len(suffix)]
            if w.endswith(("at", "bl", "iz")):
                return w + "e"
            if _double_consonant(w):
                return w if w[-1] in "lsz" else w[:-1]
            if measure(w) == 1 and _cvc(w):
                return w + "e"
            return w
    return w


def _step1c(w: str) -> str:
    return w[:-1] + "i" if w.endswith("y") and _has_vowel(w[:-1]) else w


def _replace(w: str, rules: tuple[tuple[str, str], ...], min_measure: int) -> str:
    """Apply the first rule whose suffix ends ``w`` (rules are tried longest-match-first per group)."""
    for suffix, repl in rules:
        if w.endswith(suffix):
            stem = w[: -len(suffix)]
            return stem + repl if measure(stem) > min_measure else w
    return w


def _step2(w: str) -> str:
    # Only the rules whose suffix shares the word's penultimate letter are tried, in list order,
    # and the first suffix that ends the word decides (even when its measure test then fails).
    if len(w) < 2:
        return w
    group = [r for r in _STEP2 if r[0][-2] == w[-2]]
    return _replace(w, tuple(group), 0)


def _step3(w: str) -> str:
    group = [r for r in _STEP3 if r[0][-1] == w[-1]]
    return _replace(w, tuple(group), 0)


def _step4(w: str) -> str:
    if len(w) < 2:
        return w
    for suffix in _STEP4:
        if suffix[-2] != w[-2] or not w.endswith(suffix):
            continue
        stem = w[: -len(suffix)]
        if suffix == "ion" and not stem.endswith(("s", "t")):
            continue  # "ion" only after s or t; the reference then tries "ou" (same letter 'o')
        return stem if measure(stem) > 1 else w
    return w


def _step5(w: str) -> str:
    if w.endswith("e"):
        m = measure(w[:-1])
        if m > 1 or (m == 1 and not _cvc(w[:-1])):
            w = w[:-1]
    if w.endswith("ll") and measure(w) > 1:
        w = w[:-1]
    return w


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Lucene-PorterStemFilter stem of a lower-cased ``word`` (unchanged if it has <= 2 chars)."""
    if len(word) <= 2:
        return word
    w = _step1ab(word)
    w = _step1c(w)
    if len(w) > 1:
        w = _step2(w)
        w = _step3(w)
        w = _step4(w)
    return _step5(w)
