"""Instance filtering reproduces RAGEN's group selection (StarPO-S and its variants)."""

from __future__ import annotations

import numpy as np
import pytest

from tsr_verl.search.filtering import FilterConfig, group_std, select_groups


def keep(groups, **cfg):
    return select_groups(groups, FilterConfig(**cfg)).kept


def test_starpo_s_keeps_top_ratio_by_std_with_floor_rounding():
    groups = {"a": [0, 1], "b": [1, 1], "c": [0, 0, 1, 1], "d": [5, 0]}
    assert keep(groups, value=0.5) == ["a", "d"]  # int(0.5*4)=2: d (3.54) and a (0.71) beat c (0.58)
    assert keep(groups, value=0.25) == ["d"]  # int(1.0) = 1
    assert keep(groups, value=0.74) == ["a", "d"]  # int(2.96) = 2: rounds down, like RAGEN
    assert keep(groups, value=0.1) == ["d"]  # int(0.4) = 0, but at least one group is kept


def test_ties_keep_the_earlier_group_and_all_equal_groups():
    assert keep({"a": [0, 1], "b": [1, 0], "c": [0, 0]}, value=0.34) == ["a"]
    assert keep({"x": [1, 0], "y": [0, 1]}, value=0.5) == ["x"]
    # All-equal groups: with include_zero the first one is kept, without it nothing is.
    assert keep({"a": [1, 1], "b": [0, 0]}, value=0.5) == ["a"]
    assert keep({"a": [1, 1], "b": [0, 0]}, value=0.5, include_zero=False) == []


def test_zero_variance_drop_and_k_counts_all_groups():
    groups = {"a": [1, 1, 1], "b": [0, 1, 0], "c": [2, 2], "d": [0, 3], "e": [1, 1]}
    res = select_groups(groups, FilterConfig(strategy="none", include_zero=False))
    assert res.kept == ["b", "d"] and res.dropped == ["a", "c", "e"]
    # top_k_ratio computes k from all 5 groups (int(0.6*5)=3) but only 2 survive the zero drop.
    assert keep(groups, value=0.6, include_zero=False) == ["b", "d"]
    assert res.stats["zero_variance_groups"] == 3 and res.stats["groups_before"] == 5
    assert res.stats["groups_after"] == 2 and res.stats["mean_std_after"] > res.stats["mean_std_before"]


def test_top_k_and_top_p():
    groups = {"a": [0, 4], "b": [0, 2], "c": [0, 1], "d": [0, 1]}  # std ~2.83, 1.41, 0.71, 0.71
    assert keep(groups, strategy="top_k", value=2) == ["a", "b"]
    assert keep(groups, strategy="top_k", value=10) == ["a", "b", "c", "d"]
    # top_p: fewest largest groups whose std mass reaches p * total - 0.01.
    assert keep(groups, strategy="top_p", value=0.5) == ["a"]  # 2.83 >= 0.5*5.66 - 0.01
    assert keep(groups, strategy="top_p", value=0.8) == ["a", "b", "c"]
    assert keep(groups, strategy="top_p", value=1.0) == ["a", "b", "c", "d"]
    assert keep({"z": [1, 1], "y": [2, 2]}, strategy="top_p", value=0.5) == []  # no positive mass


def test_matches_a_torch_reference_of_ragens_rule():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for _ in range(200):
        n_groups, size = int(rng.integers(2, 12)), int(rng.integers(2, 9))
        scores = torch.tensor(rng.normal(size=(n_groups, size)), dtype=torch.float64)
        ratio = float(rng.choice([0.25, 0.5, 0.75]))
        k = max(1, int(ratio * n_groups))
        expected = sorted(scores.std(dim=-1).topk(k).indices.tolist())  # RAGEN: topk of in-group std
        groups = {i: scores[i].tolist() for i in range(n_groups)}
        assert keep(groups, value=ratio) == expected
        assert group_std(groups[0]) == pytest.approx(float(scores[0].std()))


def test_empty_and_bad_config():
    assert select_groups({}).kept == []
    assert group_std([3.0]) == 0.0
    with pytest.raises(ValueError, match="strategy"):
        FilterConfig(strategy="best")
    with pytest.raises(ValueError, match="value"):
        FilterConfig(value=0)
