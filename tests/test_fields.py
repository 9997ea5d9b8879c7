"""``tsr_verl.fields``: bounds declared next to config fields, and the one unknown-key check."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tsr_verl.envs.frozenlake.config import FrozenLakeConfig
from tsr_verl.envs.parsing import ParseConfig
from tsr_verl.envs.sokoban.config import SokobanConfig
from tsr_verl.envs.webshop.config import WebShopConfig
from tsr_verl.fields import Bounds, bounds_of, build, check_bounds, checked_kwargs, reject_unknown, setting
from tsr_verl.search.config import EpisodeConfig, SearchConfig
from tsr_verl.search.filtering import FilterConfig


@dataclasses.dataclass(frozen=True)
class Demo:
    """A config with one field of every bound kind."""

    count: int = setting(4, kind=int, ge=1)
    ratio: float = setting(0.5, kind=float, gt=0, le=1)
    mode: str = setting("a", choices=("a", "b"))
    flag: bool = setting(True, kind=bool)
    name: str = setting("x", nonblank=True)
    limit: int | None = setting(None, kind=int, ge=0, optional=True)
    loose: float = setting(1.0, ge=0)
    free: str = "anything"

    def __post_init__(self) -> None:
        check_bounds(self, "demo")


def test_rules_read_as_words():
    bounds = bounds_of(Demo)
    assert set(bounds) == {"count", "ratio", "mode", "flag", "name", "limit", "loose"}  # ``free`` has none
    assert bounds["count"].describe() == "an int >= 1"
    assert bounds["ratio"].describe() == "a number in (0, 1]"
    assert bounds["mode"].describe() == "one of ('a', 'b')"
    assert bounds["flag"].describe() == "true or false"
    assert bounds["name"].describe() == "a non-blank string"
    assert bounds["limit"].describe() == "None or an int >= 0"
    assert bounds["loose"].describe() == ">= 0"
    assert Bounds(kind=float, lt=2).describe() == "a number < 2" and Bounds(le=0).describe() == "<= 0"
    assert Bounds(rule="a folder").describe() == "a folder"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("count", 0),
        ("count", True),
        ("count", 2.0),
        ("count", "3"),
        ("ratio", 0),
        ("ratio", 1.5),
        ("ratio", False),
        ("mode", "c"),
        ("flag", "yes"),
        ("flag", 1),
        ("name", " "),
        ("name", 3),
        ("limit", -1),
        ("loose", -0.1),
        ("loose", "1"),
        ("count", None),
    ],
)
def test_a_value_out_of_bounds_names_the_key_the_rule_and_the_value(key, value):
    with pytest.raises(ValueError) as err:
        Demo(**{key: value})
    assert str(err.value) == f"demo.{key} must be {bounds_of(Demo)[key].describe()}, got {value!r}"


def test_values_in_bounds_pass_numpy_scalars_included():
    Demo(count=np.int64(2), ratio=np.float32(1.0), mode="b", flag=False, name="y", limit=0, loose=True, free="")
    Demo(limit=None, loose=math.inf)


def test_unknown_keys_are_named_with_the_valid_ones():
    with pytest.raises(ValueError) as err:
        build(Demo, {"cuont": 1, "count": 2, "zz": 0}, "demo")
    valid = [f.name for f in dataclasses.fields(Demo)]
    assert str(err.value) == f"demo: unknown key(s) ['cuont', 'zz']; valid keys: {valid}"
    with pytest.raises(ValueError, match=r"^env: unknown config key\(s\) \['b'\]; valid keys: \['a'\] \(note\)$"):
        reject_unknown({"a": 1, "b": 2}, ["a"], "env", noun="config key", note=" (note)")
    assert build(Demo, {"count": 2}, "demo") == Demo(count=2) and build(Demo, None, "demo") == Demo()
    data = {"count": 3}
    assert checked_kwargs(Demo, data, "demo") == data and checked_kwargs(Demo, data, "demo") is not data


def test_bad_bounds_declarations_fail_early():
    with pytest.raises(TypeError, match="kind"):
        setting(1, kind=list)


@pytest.mark.parametrize(
    ("cls", "where"),
    [
        (SokobanConfig, "sokoban"),
        (FrozenLakeConfig, "frozenlake"),
        (WebShopConfig, "webshop"),
        (SearchConfig, "tsr"),
        (EpisodeConfig, "tsr"),
        (ParseConfig, "ParseConfig"),
        (FilterConfig, "filter"),
    ],
)
def test_every_config_declares_its_bounds_and_defaults_satisfy_them(cls, where):
    """Each config's bounds sit on its fields; its defaults pass; breaking any bounded field
    (with a plain ``object()``, which no rule accepts) names that field."""
    bounds = bounds_of(cls)
    assert bounds, f"{cls.__name__} declares no bounds"
    cls()
    for name in bounds:
        with pytest.raises(ValueError, match=f"{where}\\.{name} must be"):
            cls(**{name: object()})
