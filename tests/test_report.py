"""veRL's sample keys, TSR's metric names, and the eval report's means over them."""

from __future__ import annotations

import json
import math

import pytest

from tsr_verl.cli import report as rep
from tsr_verl.integration.sample_keys import SampleKey, last_output_keys, parse_sample_key
from tsr_verl.search.metric_names import EPISODE_PREFIX, METRIC_PREFIX, base_name, episode_key, metric_name
from tsr_verl.search.types import search_metrics


def test_sample_keys_split_from_the_right():
    assert parse_sample_key("u_0_1") == SampleKey("u", "0", 1)
    assert parse_sample_key("a_b_3_12") == SampleKey("a_b", "3", 12)  # a uid with "_" still parses
    assert parse_sample_key("u_0_1").session_key == "u_0"
    for bad in ("u", "u_0", "u_0_x", "_0_1", "u__1"):
        with pytest.raises(ValueError, match="not a veRL sample key"):
            parse_sample_key(bad)
    assert last_output_keys(["a_b_0_0", "a_b_0_2", "a_b_1_0"]) == ["a_b_0_2", "a_b_1_0"]


def test_metric_names_are_one_pair_of_spellings():
    assert (EPISODE_PREFIX, METRIC_PREFIX) == ("tsr_", "tsr/")
    assert episode_key("forks") == "tsr_forks" and metric_name("tsr_forks") == "tsr/forks"
    assert metric_name("success") == "tsr/success" and metric_name("tsr_x", prefix="val/") == "val/x"
    assert base_name("tsr_forks") == base_name("tsr/forks") == base_name("forks") == "forks"
    per_episode = search_metrics(None, prefix=EPISODE_PREFIX)
    assert {metric_name(k) for k in per_episode} == set(search_metrics(None))  # the two spellings agree


def _row(uid: str, gap: float, success: float = 1.0) -> dict:
    return {
        "uid": uid,
        "success": success,
        "episode_return": success,
        "num_turns": 1.0,
        "invalid_rate": 0.0,
        "tsr_error": 0.0,
        "tsr_proposals": 2.0,
        "tsr_score_gap": gap,
    }


def test_cost_means_skip_non_finite_values():
    rows = [_row("a_0_0", math.nan), _row("a_1_0", 0.5), _row("b_0_0", 1.5), _row("b_1_0", math.inf)]
    summary = rep.summarize(rep.group_episodes(rows), k=2)
    assert summary["tsr_cost_means"]["tsr_score_gap"] == pytest.approx(1.0)
    assert summary["tsr_cost_means"]["tsr_proposals"] == pytest.approx(2.0)
    unscored = rep.summarize(rep.group_episodes([_row("a_0_0", math.nan)]), k=1)
    assert "tsr_score_gap" not in unscored["tsr_cost_means"]  # nothing finite to average
    assert "nan" not in rep.table(summary) and "score_gap=1.0" in rep.table(summary)


def test_rows_whose_uid_is_not_a_sample_key_count_as_their_own_session():
    seeds = rep.group_episodes([_row("s_1", 0.0), _row("s_2", 0.0), _row("t", 0.0), _row("u_0_0", 0.0)])
    assert {k: len(v) for k, v in seeds.items()} == {"s": 2, "t": 1, "u": 1}


def test_quickstart_summary_prints_success_with_wilson_intervals(tmp_path, capsys):
    from tsr_verl.cli.quickstart import VAL_EPISODES, _summary

    val = "val-aux/tsr_verl/frozenlake/"
    train = {"tsr/success": 0.5, "tsr/proposals": 4.0, "tsr/tokens_kept": 50.0, "tsr/tokens_generated": 100.0}
    rows = [
        {"step": 0, "data": {val + "success/mean@1": 0.0, val + "invalid_rate/mean@1": 0.5}},
        {"step": 1, "data": train},
        {"step": 2, "data": {**train, val + "success/mean@1": 0.5, val + "invalid_rate/mean@1": 0.25}},
    ]
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _summary(0, 2, 60.0, metrics, tmp_path / "train.log") == 0
    out = capsys.readouterr().out
    n = VAL_EPISODES
    lo, hi = rep.wilson(n // 2, n)  # half of the validation maps after training
    assert f"before 0.0% (95% CI 0.0%-{rep.wilson(0, n)[1]:.1%})" in out
    assert f"after 50.0% (95% CI {lo:.1%}-{hi:.1%})" in out
    assert "learned: the 95% interval after training lies above the one before" in out


@pytest.mark.parametrize(
    ("before", "after", "verdict"),
    [
        (0.0, 0.5, "learned"),
        (0.5, 0.0, "got worse"),
        (0.016, 0.086, "no significant change"),  # 2 -> 11 of 128: intervals 0-6% and 5-15% overlap
        (0.0, 0.0, "no significant change"),
    ],
)
def test_quickstart_verdict_needs_separated_intervals(before, after, verdict):
    from tsr_verl.cli.quickstart import _verdict

    assert _verdict(before, after).startswith(verdict + ":")
