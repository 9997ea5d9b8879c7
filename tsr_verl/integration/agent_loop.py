"""``tsr_agent``: a veRL agent loop that plays one text-game episode with TSR search.

Per dataset row (one call of ``run``):

1. read the episode's ``EnvSpec`` from ``extra_info.env`` and rebuild the env at its seed;
2. merge the TSR settings (loop YAML < ``rollout.custom.tsr`` < ``extra_info.tsr``);
3. let ``SearchDriver`` play the episode; its proposer sends M concurrent ``generate`` calls per
   beam and turn to veRL's server manager (``VerlProposer``);
4. return the chosen path as one ``AgentLoopOutput``: the policy's own tokens (mask 1, with
   their rollout log-probs) interleaved with observation tokens (mask 0), ``reward_score`` =
   episode return, and per-episode metrics in ``extra_fields["reward_extra_info"]``.

``tsr_eval`` is the same loop forced to ``naive``: validation measures the policy, not the search.
An env or search error ends the episode with ``error_penalty`` and ``tsr_error=1`` instead of
killing the worker (``tsr_verl.integration.sampler.TSRReplayBuffer`` then keeps its group out of training);
inference-server errors (``ProposerError``) still propagate.

The ``rollout.n`` sessions of one prompt share the env seed; each gets its own search ``stream``
(from veRL's ``uid``/``session_id``), so their tie-breaks and scoring forks are independent.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import zlib
from pathlib import Path
from typing import Any
from uuid import uuid4

from omegaconf import DictConfig, OmegaConf
from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput

from tsr_verl.envs import EnvSpec, make_from_spec
from tsr_verl.integration.coupled import GROUP_KEYS, GroupSearch, join_group, member_result
from tsr_verl.integration.loop_config import TSRConfig, merge_layers
from tsr_verl.integration.metrics import ERROR_KEY
from tsr_verl.integration.proposer import ProposerError, VerlProposer, min_answer_tokens
from tsr_verl.search import Context, SearchDriver, SearchResult, Trajectory, search_group
from tsr_verl.search.metric_names import EPISODE_PREFIX
from tsr_verl.search.record import append_jsonl, episode_record
from tsr_verl.search.types import search_metrics

logger = logging.getLogger(__name__)
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "WARN"))


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


def sampling_logprobs(proposer: VerlProposer) -> bool:
    return bool(proposer.sampling_params.get("logprobs"))


def session_stream(kwargs: dict[str, Any], fallback: str) -> int:
    """The search ``stream`` of one veRL session: a stable 32-bit hash of ``"{uid}/{session_id}"``.

    Why: all ``rollout.n`` sessions of a prompt get the same row, hence the same env seed; without
    a per-session stream their searches would break ties and draw scoring forks identically.
    ``zlib.crc32`` (not ``hash()``, which is salted per process) keeps reruns reproducible. Without
    a ``uid`` the ``session_id`` alone is hashed. veRL's V1 worker passes both; a caller passing no
    ``session_id`` (the legacy worker) cannot tell group members apart, so ``fallback`` (the
    episode's random request id) is hashed: independent streams, not reproducible ones."""
    uid, session = kwargs.get("uid"), kwargs.get("session_id")
    text = fallback if session is None else (str(session) if uid is None else f"{uid}/{session}")
    return zlib.crc32(text.encode())


class TSRAgentLoop(AgentLoopBase):
    """Multi-turn text-game episodes with Trajectory-Search Rollouts (see module docstring)."""

    forced_strategy: str | None = None

    def __init__(self, *args: Any, tsr: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        custom = _plain(self.rollout_config.get("custom") or {}) or {}
        self.base_layers = (_plain(tsr) or {}, _plain(custom.get("tsr")) or {})
        TSRConfig.from_dict(merge_layers(*self.base_layers))  # fail at construction on a bad job config
        self.response_length = int(self.rollout_config.response_length)
        self._min_answer: dict[tuple[tuple[str, ...], bool], int] = {}

    def min_turn_tokens(self, actions: tuple[str, ...], enable_think: bool) -> int:
        """``min_answer_tokens`` of this env's actions and format (cached: one value per env type)."""
        key = (tuple(actions), enable_think)
        if key not in self._min_answer:
            self._min_answer[key] = min_answer_tokens(self.tokenizer, actions, enable_think)
        return self._min_answer[key]

    def episode_config(self, extra_info: dict[str, Any]) -> TSRConfig:
        """The merged settings for one row (row overrides win); ``tsr_eval`` forces ``naive``."""
        layers = [*self.base_layers, _plain(extra_info.get("tsr")) or {}]
        if self.forced_strategy:
            layers.append({"strategy": self.forced_strategy, "group_mode": "independent"})
        return TSRConfig.from_dict(merge_layers(*layers))

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        extra_info = dict(_plain(kwargs.get("extra_info")) or {})
        if "env" not in extra_info:
            raise ValueError("tsr_agent: the dataset row has no extra_info.env; write data with `tsr-verl make-data`")
        spec = EnvSpec.from_row(dict(extra_info["env"]))
        cfg = self.episode_config(extra_info)
        request_id = uuid4().hex
        messages = list(kwargs["raw_prompt"])
        error, proposer, result = None, None, None
        try:
            if cfg.group_mode == "coupled":
                proposer, result = await self._coupled(sampling_params, request_id, cfg, spec, messages, kwargs)
            else:
                env, _ = make_from_spec(spec)
                proposer = self._proposer(sampling_params, request_id, cfg, env.actions)
                driver = SearchDriver(proposer, cfg.search, cfg.episode, has_budget=proposer.has_budget)
                result = await driver.run(
                    env, messages, seed=spec.seed, key=request_id, stream=session_stream(kwargs, request_id)
                )
        except ProposerError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken env/episode must not kill the worker
            logger.warning("tsr_agent: episode %s of %s failed: %r", spec.seed, spec.name, exc)
            result, error = None, repr(exc)
        if proposer is None:  # the env failed before the proposer existed
            proposer = self._proposer(sampling_params, request_id, cfg, ())
        if cfg.dump_dir and result is not None:
            meta = {
                "strategy": cfg.search.strategy,
                "scorer": cfg.search.resolved_scorer,
                "loop": type(self).__name__,
                "split": extra_info.get("split"),
            }
            record = episode_record(result, env_spec=spec.to_row(), meta=meta)
            append_jsonl(Path(cfg.dump_dir) / f"episodes-{os.getpid()}.jsonl", record)
        return await self._output(proposer, messages, result, cfg, error)

    async def _coupled(
        self,
        sampling_params: dict[str, Any],
        request_id: str,
        cfg: TSRConfig,
        spec: EnvSpec,
        messages: list[dict[str, Any]],
        kwargs: dict[str, Any],
    ) -> tuple[VerlProposer, SearchResult]:
        """This session's member of its prompt's shared search (``tsr_verl.integration.coupled``)."""
        if kwargs.get("uid") is None or kwargs.get("session_id") is None:
            raise ValueError(
                "tsr group_mode=coupled needs veRL's V1 agent-loop worker (uid and session_id per session)"
            )
        uid, index, size = str(kwargs["uid"]), int(kwargs["session_id"]), int(self.rollout_config.n)

        async def search() -> GroupSearch:
            env, _ = make_from_spec(spec)
            proposer = self._proposer(sampling_params, request_id, cfg, env.actions)
            driver = SearchDriver(proposer, cfg.search, cfg.episode, has_budget=proposer.has_budget)
            stream = session_stream({"uid": uid}, request_id)
            members, results = await search_group(
                driver, env, size, messages, seed=spec.seed, key=request_id, stream=stream
            )
            return proposer, members, results

        proposer, members, results = await join_group(uid, index, size, search)
        return proposer, member_result(members, results, index)

    def _proposer(
        self, sampling_params: dict[str, Any], request_id: str, cfg: TSRConfig, actions: tuple[str, ...]
    ) -> VerlProposer:
        return VerlProposer(
            self,
            sampling_params,
            request_id,
            cfg.max_tokens_per_turn,
            self.response_length,
            unique_request_ids=bool(self.rollout_config.get("full_determinism", False)),
            min_turn_tokens=self.min_turn_tokens(actions, cfg.episode.parse.enable_think),
        )

    async def _output(
        self,
        proposer: VerlProposer,
        messages: list[dict[str, Any]],
        result: SearchResult | None,
        cfg: TSRConfig,
        error: str | None,
    ) -> AgentLoopOutput:
        if result is None:
            traj = Trajectory(Context(tuple(messages)), cfg.error_penalty, False, "error")
        else:
            traj = result.best
        turns = traj.turns
        if turns and turns[-1].feedback is not None:  # ended by the token budget: drop the dangling prompt
            turns = (*turns[:-1], dataclasses.replace(turns[-1], feedback=None))
        state = await proposer.state(dataclasses.replace(traj.context, turns=turns))
        n = self.response_length
        response_ids, mask = state.ids[state.prompt_length :][:n], state.mask[:n]
        logprobs = state.logprobs[:n] if state.logprobs else None
        if not response_ids:  # nothing generated (e.g. the env failed first): one inert token
            response_ids, mask = [self.tokenizer.eos_token_id or 0], [0]
            logprobs = [0.0] if sampling_logprobs(proposer) else None
        cost = result.cost if result is not None else None
        invalid = sum(1 for t in turns if not t.executed)
        info = {
            "success": float(traj.success),
            "episode_return": float(traj.total_return),
            "num_turns": float(len(turns)),
            "invalid_rate": invalid / len(turns) if turns else 0.0,
            ERROR_KEY: float(error is not None),
            # Cost and selection-bias metrics; every episode reports the same keys (veRL stacks
            # them column-wise), NaN where undefined (e.g. kept_logprob without log-probs).
            **search_metrics(result, prefix=EPISODE_PREFIX),
            # group_mode=coupled: the group's distinct members, shared-prefix turns, zero-std flag,
            # tokens per trained trajectory and proposer calls (NaN, i.e. not logged, otherwise).
            **{EPISODE_PREFIX + k: float(result.info.get(k, math.nan)) if result else math.nan for k in GROUP_KEYS},
        }
        metrics = AgentLoopMetrics(
            generate_sequences=cost.proposer_time_s if cost else 0.0, tool_calls=cost.env_time_s if cost else 0.0
        )
        return AgentLoopOutput(
            prompt_ids=state.ids[: state.prompt_length],
            response_ids=response_ids,
            response_mask=mask,
            response_logprobs=logprobs,
            reward_score=float(traj.total_return),
            num_turns=1 + 2 * len(turns),
            metrics=metrics,
            extra_fields={
                **await proposer.ensure_server_fields(state.ids[: state.prompt_length]),
                "reward_extra_info": info,
                "turn_scores": [float(t.reward) for t in turns],
                "tool_rewards": [],
                "tsr_end_reason": traj.end_reason,
                **({"tsr_error_message": error} if error else {}),
            },
        )


class TSREvalAgentLoop(TSRAgentLoop):
    """``tsr_eval``: the same episode without search (validation/test rows)."""

    forced_strategy = "naive"
