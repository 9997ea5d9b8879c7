"""Contract tests of ``tsr_agent`` against veRL 0.9.1, without Ray or a model.

The loop is built exactly as veRL's ``AgentLoopWorker`` builds it (``hydra.utils.instantiate`` of
the registry entry our plugin added), talks to a fake server manager that returns scripted
``TokenOutput``s, uses SmolLM2's real tokenizer and chat template, and its outputs go through
veRL's own ``_agent_loop_postprocess`` and ``_postprocess`` into a training batch.
"""

from __future__ import annotations

import asyncio

import hydra
import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl.experimental.agent_loop.agent_loop import AgentLoopWorker, DictConfigWrap, _agent_loop_registry
from verl.utils.dataset.rl_dataset import RLHFDataset
from verl.workers.rollout.replica import TokenOutput

from tsr_verl.envs import EnvSpec, make
from tsr_verl.envs.datasets import write_splits
from tsr_verl.envs.parsing import ParseConfig, parse_turn, step_turn

ANSWERS = [
    "<think>go</think><answer>Right</answer>",
    "<think>hm</think><answer>Down || Left</answer>",
    "no idea",
    "<think>up</think><answer>Up</answer>",
]


class FakeServerManager:
    """Scripted answers (cycled); every output gets distinct log-probs so they can be traced."""

    def __init__(self, tokenizer, answers=ANSWERS, fail: bool = False) -> None:
        self.tokenizer, self.answers, self.fail = tokenizer, answers, fail
        self.calls: list[dict] = []
        self.outputs: list[TokenOutput] = []

    async def generate(self, request_id, *, prompt_ids, sampling_params, **kwargs):
        if self.fail:
            raise ConnectionError("server down")
        await asyncio.sleep(0)
        n = len(self.calls)
        self.calls.append({"request_id": request_id, "prompt_ids": list(prompt_ids), "params": dict(sampling_params)})
        ids = self.tokenizer.encode(self.answers[n % len(self.answers)], add_special_tokens=False)
        ids = ids[: sampling_params["max_tokens"] - 1] + [self.tokenizer.eos_token_id]
        out = TokenOutput(
            token_ids=ids,
            log_probs=[-(n + 1) / 1000 - i / 1e6 for i in range(len(ids))],
            extra_fields={"min_global_steps": 7 + n % 2, "max_global_steps": 7 + n % 2},
        )
        self.outputs.append(out)
        return out


@pytest.fixture(scope="module")
def tokenizer(smollm2_tokenizer_dir):
    return AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    frames = {}
    for env, cfg in (("sokoban", {}), ("frozenlake", {"is_slippery": False})):
        paths = write_splits(out / env, env, cfg, {"train": 3}, progress=False)
        frames[env] = pd.read_parquet(paths["train"])
    return frames


def build_loop(tokenizer, server, name="tsr_agent", response_length=1024, n=1, **tsr):
    import verl  # noqa: F401  (loads the tsr_verl plugin)

    config = OmegaConf.create(
        {
            "actor_rollout_ref": {
                "rollout": {
                    "prompt_length": 1024,
                    "response_length": response_length,
                    "n": n,
                    "custom": {"tsr": tsr},
                    "multi_turn": {"tool_config_path": None},
                },
                "model": {"path": "unused", "tokenizer_path": "unused"},
            },
            "data": {"apply_chat_template_kwargs": {}},
        }
    )
    return hydra.utils.instantiate(
        config=_agent_loop_registry[name],
        trainer_config=DictConfigWrap(config),
        server_manager=server,
        tokenizer=tokenizer,
        processor=None,
        dataset_cls=RLHFDataset,
        data_config=DictConfigWrap(config.data),
    )


async def play(loop, row):
    return await loop.run(
        {"temperature": 1.0, "logprobs": True}, raw_prompt=list(row.prompt), extra_info=row.extra_info, index=0
    )


def runs(mask: list[int]) -> list[tuple[int, int, int]]:
    """Maximal runs ``(value, start, end)`` of a 0/1 mask."""
    out, start = [], 0
    for i in range(1, len(mask) + 1):
        if i == len(mask) or mask[i] != mask[start]:
            out.append((mask[start], start, i))
            start = i
    return out


@pytest.mark.parametrize("env_name", ["sokoban", "frozenlake"])
async def test_best_of_m_episode_tokens_mask_logprobs_and_reward(tokenizer, rows, env_name):
    server = FakeServerManager(tokenizer)
    loop = build_loop(tokenizer, server, strategy="best_of_n", num_candidates=3, max_turns=3)
    row = rows[env_name].iloc[1]
    out = await play(loop, row)

    n = len(out.response_ids)
    assert len(out.response_mask) == n == len(out.response_logprobs) and n <= 1024
    turns = out.extra_fields["turn_scores"]
    # M candidates per turn, all through one sticky request id, each capped by max_tokens.
    assert len(server.calls) == 3 * len(turns)
    assert len({c["request_id"] for c in server.calls}) == 1
    assert all(c["params"]["max_tokens"] >= 1 and c["params"]["temperature"] == 1.0 for c in server.calls)

    # Mask 1 = exactly the kept candidates' tokens, with their own log-probs; mask 0 = observations.
    spans = runs(out.response_mask)
    generated = [(s, e) for v, s, e in spans if v == 1]
    assert len(generated) == len(turns)
    chosen_texts = []
    for s, e in generated:  # log-probs are unique per output: they identify the proposal
        (chosen,) = [o for o in server.outputs if o.log_probs == pytest.approx(out.response_logprobs[s:e], abs=1e-9)]
        assert chosen.token_ids == out.response_ids[s:e]
        chosen_texts.append(tokenizer.decode(chosen.token_ids, skip_special_tokens=True))
    for v, s, e in spans:
        if v == 0:
            assert all(lp == 0.0 for lp in out.response_logprobs[s:e])
            assert "State:" in tokenizer.decode(out.response_ids[s:e])
    assert sum(1 for v, *_ in spans if v == 0) == len(turns) - 1  # no observation after the last turn
    # The prompt is the row's chat; the last call's prompt is a prefix of the final sequence.
    assert tokenizer.decode(out.prompt_ids).count("Turn 1:") == 1
    full = out.prompt_ids + out.response_ids
    assert full[: len(server.calls[-1]["prompt_ids"])] == server.calls[-1]["prompt_ids"]

    # reward_score = the env's return for the chosen answers, replayed on a fresh env.
    env = make(
        **{k: v for k, v in EnvSpec.from_row(dict(row.extra_info["env"])).__dict__.items() if k == "name"},
        **EnvSpec.from_row(dict(row.extra_info["env"])).config,
    )
    env.reset(EnvSpec.from_row(dict(row.extra_info["env"])).seed)
    replay = [step_turn(env, parse_turn(t, env.actions, ParseConfig())).reward for t in chosen_texts]
    assert out.reward_score == pytest.approx(sum(replay)) == pytest.approx(sum(turns))
    info = out.extra_fields["reward_extra_info"]
    assert info["episode_return"] == out.reward_score and info["tsr_proposals"] == 3 * len(turns)
    # The server's weight-version tags reach veRL's trainer (it requires them for every sample).
    assert out.extra_fields["min_global_steps"] == 7 and out.extra_fields["max_global_steps"] == 8
    assert info["tsr_tokens_generated"] >= info["tsr_tokens_kept"] == sum(e - s for s, e in generated)


async def test_outputs_pass_through_verls_postprocess_into_a_batch(tokenizer, rows):
    server = FakeServerManager(tokenizer)
    loop = build_loop(tokenizer, server, strategy="beam", num_candidates=2, beam_width=2, max_turns=2)
    outs = [await play(loop, rows["sokoban"].iloc[i]) for i in range(3)]

    class Worker:
        _compute_multi_modal_inputs = AgentLoopWorker._compute_multi_modal_inputs
        _compute_position_ids = AgentLoopWorker._compute_position_ids
        _get_mm_processor_kwargs = AgentLoopWorker._get_mm_processor_kwargs
        _compute_score = AgentLoopWorker._compute_score
        _compute_teacher_logprobs = AgentLoopWorker._compute_teacher_logprobs
        _pad_token_ids = AgentLoopWorker._pad_token_ids
        distillation_enabled, reward_loop_worker_handles, processor, mm_processor_kwargs = False, None, None, {}
        rollout_config = OmegaConf.create({"prompt_length": 1024, "response_length": 1024})

    worker = Worker()
    worker.tokenizer = tokenizer
    internal = [await AgentLoopWorker._agent_loop_postprocess(worker, o, validate=False, raw_prompt=[]) for o in outs]
    batch = AgentLoopWorker._postprocess(worker, internal, {"index": np.arange(3)})
    assert batch.batch["input_ids"].shape == (3, 2048) and batch.batch["responses"].shape == (3, 1024)
    assert batch.batch["rollout_log_probs"].shape == (3, 1024)
    last = batch.batch["attention_mask"][:, 1024:].sum(dim=1) - 1
    rm = batch.batch["rm_scores"][torch.arange(3), last]
    assert rm.tolist() == pytest.approx([o.reward_score for o in outs])
    assert batch.batch["rm_scores"].sum().item() == pytest.approx(sum(o.reward_score for o in outs))
    assert list(batch.non_tensor_batch["success"]) == [o.extra_fields["reward_extra_info"]["success"] for o in outs]
    assert "tsr_proposals" in batch.meta_info["reward_extra_keys"]


async def test_eval_loop_never_searches_and_row_overrides_win(tokenizer, rows):
    server = FakeServerManager(tokenizer)
    out = await play(
        build_loop(tokenizer, server, name="tsr_eval", strategy="beam", num_candidates=4), rows["sokoban"].iloc[0]
    )
    assert len(server.calls) == len(out.extra_fields["turn_scores"])  # naive: one call per turn
    row = rows["sokoban"].iloc[0].copy()
    row.extra_info = {**row.extra_info, "tsr": {"max_turns": 1, "num_candidates": 2}}
    server = FakeServerManager(tokenizer)
    out = await play(build_loop(tokenizer, server, strategy="best_of_n", num_candidates=4, max_turns=5), row)
    assert len(out.extra_fields["turn_scores"]) == 1 and len(server.calls) == 2


async def test_response_budget_ends_the_episode_cleanly(tokenizer, rows):
    server = FakeServerManager(tokenizer, answers=["<think>" + "x " * 30 + "</think><answer>Up</answer>"])
    out = await play(build_loop(tokenizer, server, response_length=120, max_turns=5), rows["frozenlake"].iloc[0])
    assert len(out.response_ids) <= 120 and out.extra_fields["tsr_end_reason"] in ("budget", "terminated")
    assert out.response_mask[-1] == 1  # ends on the policy's turn, not on a dangling observation
    assert all(c["params"]["max_tokens"] <= 120 for c in server.calls)


async def test_env_failure_is_a_penalised_episode_but_server_failure_propagates(tokenizer, rows, monkeypatch):
    from tsr_verl.envs.sokoban import SokobanEnv

    def broken(self, action):
        raise OSError("disk on fire")

    monkeypatch.setattr(SokobanEnv, "step", broken)
    out = await play(build_loop(tokenizer, FakeServerManager(tokenizer), error_penalty=-2.0), rows["sokoban"].iloc[0])
    info = out.extra_fields["reward_extra_info"]
    assert (
        out.reward_score == -2.0
        and info["tsr_error"] == 1.0
        and "disk on fire" in out.extra_fields["tsr_error_message"]
    )
    assert len(out.response_ids) == len(out.response_mask) >= 1
    assert out.extra_fields["min_global_steps"] is not None  # fetched with a 1-token call
    monkeypatch.undo()
    from tsr_verl.integration.proposer import ProposerError

    with pytest.raises(ProposerError, match="server down"):
        await play(build_loop(tokenizer, FakeServerManager(tokenizer, fail=True)), rows["sokoban"].iloc[0])


def test_bad_tsr_config_fails_at_construction_naming_the_key(tokenizer):
    with pytest.raises(Exception, match=r"unknown key\(s\) \['beam_size'\]"):  # hydra wraps it
        build_loop(tokenizer, FakeServerManager(tokenizer), beam_size=2)
    with pytest.raises(Exception, match="strategy"):
        build_loop(tokenizer, FakeServerManager(tokenizer), strategy="mcts")


async def test_missing_env_spec_is_a_clear_error(tokenizer, rows):
    row = rows["sokoban"].iloc[0].copy()
    row.extra_info = {"index": 0}
    with pytest.raises(ValueError, match="no extra_info.env"):
        await play(build_loop(tokenizer, FakeServerManager(tokenizer)), row)


async def test_episodes_are_dumped_for_the_viewer(tokenizer, rows, tmp_path):
    from tsr_verl.search.record import read_jsonl

    loop = build_loop(
        tokenizer,
        FakeServerManager(tokenizer),
        strategy="beam",
        num_candidates=2,
        beam_width=2,
        record_tree=True,
        max_turns=2,
        dump_dir=str(tmp_path / "dump"),
    )
    outs = [await play(loop, rows["sokoban"].iloc[i]) for i in range(2)]
    (dump,) = (tmp_path / "dump").iterdir()
    records = read_jsonl(dump)
    assert len(records) == 2
    for rec, out in zip(records, outs, strict=True):
        assert len(rec["turns"]) == len(out.extra_fields["turn_scores"])
        assert rec["total_return"] == out.reward_score and rec["meta"]["strategy"] == "beam"
        assert rec["tree"] and any(node["chosen"] for node in rec["tree"])


def test_return_top_above_one_is_rejected_at_construction_and_per_row(tokenizer, rows):
    with pytest.raises(Exception, match="return_top must be 1"):  # hydra wraps it
        build_loop(tokenizer, FakeServerManager(tokenizer), strategy="beam", return_top=2)
    row = rows["sokoban"].iloc[0].copy()
    row.extra_info = {**row.extra_info, "tsr": {"return_top": 3}}
    with pytest.raises(ValueError, match="return_top must be 1.*one trajectory"):
        asyncio.run(play(build_loop(tokenizer, FakeServerManager(tokenizer), strategy="beam"), row))


async def test_group_members_get_distinct_reproducible_search_streams(tokenizer, rows, monkeypatch):
    """veRL runs rollout.n sessions of one row (same env seed); each must search on its own stream."""
    from tsr_verl.search import SearchDriver

    seen: list[int] = []
    original = SearchDriver.run

    async def spy(self, env, messages=None, **kwargs):
        seen.append(kwargs.get("stream", 0))  # 0: SearchDriver.run's default
        return await original(self, env, messages, **kwargs)

    monkeypatch.setattr(SearchDriver, "run", spy)
    loop = build_loop(tokenizer, FakeServerManager(tokenizer), strategy="best_of_n", num_candidates=2, max_turns=1)
    row = rows["frozenlake"].iloc[0]
    for uid, session in [("u", 0), ("u", 1), ("u", 2), ("u", 3), ("v", 0), ("u", 1)]:
        await loop.run(
            {"temperature": 1.0},
            raw_prompt=list(row.prompt),
            extra_info=row.extra_info,
            index=0,
            uid=uid,
            session_id=session,
        )
    assert len(set(seen[:5])) == 5  # four members of group u and the first member of group v
    from tsr_verl.integration.agent_loop import session_stream

    assert seen[5] == seen[1] == session_stream({"uid": "u", "session_id": 1}, "ignored")  # stable across calls
    # Without a session id (veRL's legacy worker) group members cannot be told apart: random streams.
    assert session_stream({"uid": "u"}, "a") != session_stream({"uid": "u"}, "b")


async def test_selection_bias_metrics_reach_reward_extra_info(tokenizer, rows):
    from tsr_verl.search.types import search_metrics

    server = FakeServerManager(tokenizer)
    loop = build_loop(tokenizer, server, strategy="best_of_n", num_candidates=3, max_turns=3)
    out = await play(loop, rows["frozenlake"].iloc[1])
    info = out.extra_fields["reward_extra_info"]
    assert set(search_metrics(None, prefix="tsr_")) <= set(info)  # the fixed key set veRL stacks
    # kept_logprob: mean over turns of the kept candidate's mean token log-prob (mask-1 spans).
    kept = [out.response_logprobs[s:e] for v, s, e in runs(out.response_mask) if v == 1]
    assert info["tsr_kept_logprob"] == pytest.approx(np.mean([np.mean(lp) for lp in kept]))
    proposed = [np.mean(o.log_probs) for o in server.outputs[: 3 * len(kept)]]
    assert info["tsr_proposed_logprob"] == pytest.approx(np.mean(proposed))
    assert 0.0 <= info["tsr_selection_changed"] <= 1.0 and np.isfinite(info["tsr_score_gap"])
    assert info["tsr_kept_invalid"] == info["invalid_rate"]


async def test_last_turn_never_starts_below_a_minimal_complete_answer(tokenizer, rows):
    """A turn with fewer tokens left than ``<think></think><answer>Right</answer>`` + EOS can only be
    cut off and penalised: the budget check must end the episode instead of starting it."""
    from tsr_verl.integration.proposer import MIN_TURN_TOKENS, min_answer_tokens

    minimal = min_answer_tokens(tokenizer, ("Left", "Down", "Right", "Up"), enable_think=True)
    assert minimal > MIN_TURN_TOKENS + 1  # SmolLM2: 12 tokens, so the old floor of 8 was too low
    row = rows["frozenlake"].iloc[0]
    server = FakeServerManager(tokenizer, answers=["no idea"])  # invalid: the episode goes on
    await play(build_loop(tokenizer, server, max_turns=3), row)
    used = len(server.calls[1]["prompt_ids"]) - len(server.calls[0]["prompt_ids"])  # turn 1 + observation
    server = FakeServerManager(tokenizer, answers=["no idea"])
    out = await play(build_loop(tokenizer, server, max_turns=3, response_length=used + minimal - 1), row)
    assert len(server.calls) == 1 and out.extra_fields["tsr_end_reason"] == "budget"
    server = FakeServerManager(tokenizer, answers=["no idea"])
    await play(build_loop(tokenizer, server, max_turns=3, response_length=used + minimal), row)
    assert len(server.calls) == 2 and server.calls[1]["params"]["max_tokens"] == minimal


# --- group_mode=coupled: the n sessions of a uid share one search ------------------------------------
async def play_group(tokenizer, server, row, n=4, uid="u", **tsr):
    """The sessions of one prompt as veRL's V1 worker runs them: one fresh loop instance per
    session, ``session_id`` 0..n-1 under one ``uid``, concurrent tasks of one event loop."""
    loops = [build_loop(tokenizer, server, n=n, group_mode="coupled", **tsr) for _ in range(n)]
    calls = [
        loop.run(
            {"temperature": 1.0, "logprobs": True},
            raw_prompt=list(row.prompt),
            extra_info=row.extra_info,
            index=0,
            uid=uid,
            session_id=i,
        )
        for i, loop in enumerate(loops)
    ]
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_coupled_group_members_are_one_searchs_distinct_episodes(tokenizer, rows):
    from tsr_verl.integration.coupled import pending_groups

    server = FakeServerManager(tokenizer)
    row = rows["sokoban"].iloc[1]
    outs = await play_group(tokenizer, server, row, strategy="beam", num_candidates=3, beam_width=2, max_turns=2)
    assert pending_groups() == 0 and all(not isinstance(o, BaseException) for o in outs), outs
    assert len({c["request_id"] for c in server.calls}) == 1  # one search, one sticky request id
    spec = EnvSpec.from_row(dict(row.extra_info["env"]))
    texts_per_member, outputs_per_member = [], []
    for out in outs:
        generated = [(s, e) for v, s, e in runs(out.response_mask) if v == 1]
        texts, chosen_ids = [], []
        for s, e in generated:  # exactly the proposer's tokens and log-probs, output by output
            (chosen,) = [
                o for o in server.outputs if o.log_probs == pytest.approx(out.response_logprobs[s:e], abs=1e-9)
            ]
            assert chosen.token_ids == out.response_ids[s:e]
            texts.append(tokenizer.decode(chosen.token_ids, skip_special_tokens=True))
            chosen_ids.append(server.outputs.index(chosen))
        outputs_per_member.append(tuple(chosen_ids))
        env = make(spec.name, **spec.config)
        env.reset(spec.seed)
        replay = [step_turn(env, parse_turn(t, env.actions, ParseConfig())).reward for t in texts]
        assert out.reward_score == pytest.approx(sum(replay))  # each member's own return
        texts_per_member.append(tuple(texts))
    info = [o.extra_fields["reward_extra_info"] for o in outs]
    distinct = len(
        {tuple(parse_turn(t, make(spec.name).actions, ParseConfig()).actions for t in m) for m in texts_per_member}
    )
    assert info[0]["tsr_group_distinct"] == distinct >= 2
    assert len(set(outputs_per_member)) == 4  # four different episodes (different proposals)
    # Cost is shared: each member reports 1/n of the group's proposals, all the same value.
    assert len({i["tsr_proposals"] for i in info}) == 1
    assert info[0]["tsr_proposals"] * 4 == pytest.approx(len(server.calls) * 1)  # one candidate per call here


async def test_a_failing_coupled_search_fails_the_whole_group(tokenizer, rows, monkeypatch):
    from tsr_verl.envs.sokoban import SokobanEnv
    from tsr_verl.integration.coupled import pending_groups
    from tsr_verl.integration.proposer import ProposerError

    row = rows["sokoban"].iloc[0]
    kw = {"strategy": "beam", "num_candidates": 2, "beam_width": 2, "max_turns": 2}
    outs = await play_group(tokenizer, FakeServerManager(tokenizer, fail=True), row, uid="down", **kw)
    assert all(isinstance(o, ProposerError) for o in outs), outs  # veRL marks the prompt failed
    monkeypatch.setattr(SokobanEnv, "step", lambda self, action: (_ for _ in ()).throw(OSError("disk on fire")))
    outs = await play_group(tokenizer, FakeServerManager(tokenizer), row, uid="fire", **kw)
    assert all(o.extra_fields["reward_extra_info"]["tsr_error"] == 1.0 for o in outs)  # the sampler drops it
    assert pending_groups() == 0


def test_coupled_naive_is_rejected_and_eval_plays_alone(tokenizer, rows):
    with pytest.raises(Exception, match="group_mode=coupled needs a search strategy"):
        build_loop(tokenizer, FakeServerManager(tokenizer), group_mode="coupled", strategy="naive")
    loop = build_loop(tokenizer, FakeServerManager(tokenizer), name="tsr_eval", group_mode="coupled", strategy="beam")
    cfg = loop.episode_config(dict(rows["sokoban"].iloc[0].extra_info))
    assert (cfg.search.strategy, cfg.group_mode) == ("naive", "independent")
