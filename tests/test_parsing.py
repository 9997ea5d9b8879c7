"""Action parsing: RAGEN's format rules, lenient mode, and a fuzz over arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsr_verl.envs.parsing import ParseConfig, ParsedTurn, parse_turn

ACTIONS = ("Up", "Down", "Left", "Right")
CFG = ParseConfig()


def test_think_answer_two_actions_case_insensitive():
    turn = parse_turn("<think>go</think><answer>up || LEFT</answer>", ACTIONS)
    assert turn == ParsedTurn(("Up", "Left"), (), 0.0, True, "up || LEFT", 0)


def test_prefilled_think_tag_may_be_missing():
    assert parse_turn("box is left</think> <answer>Left</answer>", ACTIONS).actions == ("Left",)


def test_extra_actions_beyond_limit_are_dropped():
    turn = parse_turn("<think></think><answer>Up || Up || Down</answer>", ACTIONS)
    assert turn.actions == ("Up", "Up") and turn.dropped == 1 and turn.penalty == 0.0


def test_partial_invalid_is_penalised_like_ragen_but_keeps_valid_actions():
    turn = parse_turn("<think>x</think><answer>Up || jump</answer>", ACTIONS)
    assert turn.actions == ("Up",) and turn.invalid == ("jump",) and turn.penalty == pytest.approx(-0.1)
    relaxed = parse_turn("<think>x</think><answer>Up || jump</answer>", ACTIONS, ParseConfig(penalize_partial=False))
    assert relaxed.actions == ("Up",) and relaxed.penalty == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Up",
        "<answer>Up</answer>",
        "<think>Up</think>",
        "<think>a</think><answer></answer>",
        "<think>a</think><answer>fly</answer>",
        "<think>a</think><answer>Up",
    ],
)
def test_no_valid_action_gets_the_format_penalty(text):
    turn = parse_turn(text, ACTIONS)
    assert turn.actions == () and turn.penalty == pytest.approx(-0.1)


def test_answer_only_format_when_think_disabled():
    cfg = ParseConfig(enable_think=False)
    assert parse_turn("<answer>Down</answer>", ACTIONS, cfg).actions == ("Down",)
    assert parse_turn("<think>x</think><answer>Down</answer>", ACTIONS, cfg).actions == ()


def test_custom_separator_and_limit():
    cfg = ParseConfig(action_sep=",", max_actions_per_turn=3)
    assert parse_turn("<think></think><answer>Up, Down ,Left, Right</answer>", ACTIONS, cfg).actions == (
        "Up",
        "Down",
        "Left",
    )


def test_lenient_mode_plays_unformatted_text_but_keeps_the_format_penalty():
    cfg = ParseConfig(lenient=True)
    turn = parse_turn("I think I should go right, then up", ACTIONS, cfg)
    assert turn.actions == ("Right",) and not turn.format_ok
    # A free rescue would pay any text containing an action word ("You're right" -> Right) as
    # well as a well-formed answer; only the strict format is penalty-free.
    assert turn.penalty == pytest.approx(-0.1)
    assert parse_turn("You're right, the weather is nice", ACTIONS, cfg).penalty == pytest.approx(-0.1)
    assert parse_turn("<think>go</think><answer>Right</answer>", ACTIONS, cfg).penalty == 0.0
    truncated = parse_turn("<think>up is a wall</think><answer>Down ||", ACTIONS, cfg)
    assert truncated.actions == ("Down",)  # words after <answer> win over words in the thoughts
    assert parse_turn("nothing useful", ACTIONS, cfg).penalty == pytest.approx(-0.1)
    # Strict format wins over rescue when it yields actions.
    assert parse_turn("<think>left</think><answer>Up</answer>", ACTIONS, cfg).actions == ("Up",)


@pytest.mark.parametrize("kwargs", [{"action_sep": " "}, {"max_actions_per_turn": 0}, {"format_penalty": 0.5}])
def test_bad_config_is_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ParseConfig(**kwargs)


# --- fuzz ---------------------------------------------------------------------------------------
_pieces = st.sampled_from(
    [
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
        "||",
        "|",
        " ",
        "\n",
        "up",
        "UP",
        "Left",
        "rIgHt",
        "down",
        "<",
        ">",
        "/",
        "answer",
        "think",
        "Up||",
        "\x00",
        "é",
        "🙂",
        "<ANSWER>",
        "</Answer>",
        "Upp",
    ]
)
texts = st.one_of(st.text(max_size=200), st.lists(st.one_of(_pieces, st.text(max_size=5)), max_size=30).map("".join))
configs = st.builds(
    ParseConfig,
    action_sep=st.sampled_from(["||", ",", "|", ";"]),
    max_actions_per_turn=st.integers(1, 4),
    enable_think=st.booleans(),
    penalize_partial=st.booleans(),
    lenient=st.booleans(),
)


@settings(max_examples=10_000, deadline=None, derandomize=True, database=None)
@given(text=texts, cfg=configs)
def test_fuzz_parser_never_raises_and_output_is_well_formed(text, cfg):
    turn = parse_turn(text, ACTIONS, cfg)
    assert isinstance(turn, ParsedTurn)
    assert all(a in ACTIONS for a in turn.actions)
    assert len(turn.actions) <= cfg.max_actions_per_turn
    assert all(isinstance(p, str) for p in turn.invalid)
    assert turn.penalty in (0.0, cfg.format_penalty)
    if not turn.actions:
        assert turn.penalty == cfg.format_penalty
    if turn.penalty == 0.0:
        assert not turn.invalid and turn.format_ok  # only a well-formed answer is penalty-free
    if turn.answer is None:  # no strict answer (or a lenient rescue): nothing to drop
        assert turn.dropped == 0
    else:  # every non-empty answer part is a valid action, an invalid part, or dropped
        parts = [p for p in turn.answer.split(cfg.action_sep) if p.strip()]
        assert len(turn.actions) + len(turn.invalid) + turn.dropped == len(parts)
        assert turn.dropped == max(0, len(parts) - cfg.max_actions_per_turn)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(
    actions=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2),
    upper=st.booleans(),
    thoughts=st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=50),
)
def test_fuzz_well_formed_answers_round_trip(actions, upper, thoughts):
    answer = " || ".join(a.upper() if upper else a for a in actions)
    turn = parse_turn(f"<think>{thoughts}</think>\n<answer>{answer}</answer>", ACTIONS, CFG)
    assert turn.actions == tuple(actions) and turn.penalty == 0.0 and turn.format_ok
