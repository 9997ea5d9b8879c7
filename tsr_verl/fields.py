"""Bounds declared next to a config field, and the one checker every config dataclass uses.

What: ``setting(4, ge=1)`` is ``dataclasses.field(default=4)`` carrying a ``Bounds`` in its
metadata; ``check_bounds(config, "tsr")`` (called from ``__post_init__``) validates every such
field and raises ``ValueError("tsr.num_candidates must be >= 1, got 0")``; ``checked_kwargs(cls,
data, "tsr")`` rejects keys that are not fields, naming them and listing the valid ones.

Why: every user-facing settings class (env configs, ``SearchConfig``, ``TSRConfig``, the sampler's
``sampler_kwargs``) needs the same two checks. Declared next to the field, a bound is read where
the field is documented, and every error names the key the user has to fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, TypeVar

BOUNDS = "tsr_verl.bounds"
"""The ``dataclasses.field`` metadata key under which ``setting`` stores a field's ``Bounds``."""
KINDS: tuple[type, ...] = (int, float, bool, str)
"""The value kinds ``Bounds.kind`` accepts (``int``/``float`` reject ``bool``; numpy scalars pass)."""
T = TypeVar("T")


@dataclass(frozen=True)
class Bounds:
    """What values one field accepts. Unset parts accept anything."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None
    """The only allowed values (compared with ``in``)."""
    kind: type | None = None
    """``int``, ``float`` (any real number), ``bool`` or ``str``; None checks no type, except that
    a range needs a number."""
    nonblank: bool = False
    """A string with something other than whitespace (implies ``kind=str``)."""
    optional: bool = False
    """``None`` is also accepted."""
    rule: str | None = None
    """Wording of the rule in error messages, instead of the generated one."""

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise TypeError(f"Bounds.kind must be one of {KINDS}, got {self.kind!r}")

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` satisfies every declared part."""
        if value is None:
            return self.optional
        if self.choices is not None and value not in self.choices:
            return False
        kind = str if self.nonblank else self.kind
        if kind is bool and not isinstance(value, bool):
            return False
        if kind is str and not isinstance(value, str):
            return False
        number = Integral if kind is int else Real
        if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, number)):
            return False
        if self.nonblank and not value.strip():
            return False
        ranged = (self.ge, self.gt, self.le, self.lt)
        if any(b is not None for b in ranged):
            if not isinstance(value, Real):
                return False
            ge, gt, le, lt = ranged
            below = (ge is not None and value < ge) or (gt is not None and value <= gt)
            above = (le is not None and value > le) or (lt is not None and value >= lt)
            return not (below or above)
        return True

    def describe(self) -> str:
        """The rule in words: ``an int >= 1``, ``a number in (0, 1]``, ``one of ('a', 'b')``."""
        text = self.rule or self._generated()
        return f"None or {text}" if self.optional and not self.rule else text

    def _generated(self) -> str:
        if self.choices is not None:
            return f"one of {self.choices}"
        if self.kind is bool:
            return "true or false"
        if self.nonblank or self.kind is str:
            return "a non-blank string" if self.nonblank else "a string"
        noun = {int: "an int", float: "a number"}.get(self.kind, "")  # type: ignore[call-overload]
        low = f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}" if self.gt is not None else ""
        high = f"{self.le:g}]" if self.le is not None else f"{self.lt:g})" if self.lt is not None else ""
        if low and high:
            span = f"in {low}, {high}"
        elif low:
            span = (">= " if low[0] == "[" else "> ") + low[1:]
        elif high:
            span = ("<= " if high[-1] == "]" else "< ") + high[:-1]
        else:
            span = ""
        return " ".join(part for part in (noun, span) if part) or "a valid value"


def setting(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Iterable[Any] | None = None,
    kind: type | None = None,
    nonblank: bool = False,
    optional: bool = False,
    rule: str | None = None,
) -> Any:
    """A dataclass field with its bounds: ``num_candidates: int = setting(4, ge=1)``.

    ``check_bounds`` enforces them; the field's docstring (the string literal below it) stays
    where it is. Returns what ``dataclasses.field`` returns, so type checkers see the default."""
    bounds = Bounds(ge, gt, le, lt, tuple(choices) if choices is not None else None, kind, nonblank, optional, rule)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={BOUNDS: bounds})


def bounds_of(cls_or_obj: Any) -> dict[str, Bounds]:
    """Field name -> ``Bounds`` of every bounded field of a dataclass (class or instance)."""
    return {f.name: f.metadata[BOUNDS] for f in dataclasses.fields(cls_or_obj) if BOUNDS in f.metadata}


def check_bounds(config: Any, where: str) -> None:
    """Raise ``ValueError("<where>.<field> must be <rule>, got <value>")`` for the first bounded
    field (in declaration order) whose value breaks its bounds."""
    for name, bounds in bounds_of(config).items():
        value = getattr(config, name)
        if not bounds.accepts(value):
            raise ValueError(f"{where}.{name} must be {bounds.describe()}, got {value!r}")


def reject_unknown(
    data: Mapping[str, Any], valid: Iterable[str], where: str, *, noun: str = "key", note: str = ""
) -> None:
    """Raise ``ValueError("<where>: unknown <noun>(s) [...]; valid keys: [...]<note>")`` if
    ``data`` has keys outside ``valid`` (listed in the order given)."""
    valid = list(valid)
    unknown = sorted(set(data) - set(valid), key=str)
    if unknown:
        raise ValueError(f"{where}: unknown {noun}(s) {unknown}; valid keys: {valid}{note}")


def checked_kwargs(
    cls: type, data: Mapping[str, Any] | None, where: str, *, noun: str = "key", note: str = ""
) -> dict[str, Any]:
    """``data`` as a plain dict after ``reject_unknown`` against the fields of dataclass ``cls``."""
    data = dict(data or {})
    reject_unknown(data, (f.name for f in dataclasses.fields(cls)), where, noun=noun, note=note)
    return data


def build(cls: type[T], data: Mapping[str, Any] | None, where: str, *, noun: str = "key", note: str = "") -> T:
    """``cls(**data)`` after the unknown-key check (its ``__post_init__`` checks the bounds)."""
    return cls(**checked_kwargs(cls, data, where, noun=noun, note=note))
