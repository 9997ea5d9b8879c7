"""TSR group filtering and metrics through veRL 0.9.1's real V1 ``ReplayBuffer.sample``.

Fast tests replace TransferQueue's module functions with an in-memory store that returns the same
types the real one does (``list_of_dict_to_tensordict``: jagged ``rm_scores``, list of
``extra_fields`` dicts). The ``slow`` test runs against a real TransferQueue on Ray.
"""

from __future__ import annotations

import re
import statistics
import types

import numpy as np
import pytest
import torch
import transfer_queue
from omegaconf import OmegaConf
from verl.trainer.ppo.v1.trainer_base import PPOTrainer
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from tsr_verl.integration.metrics import reward_extra_info_metrics
from tsr_verl.integration.sampler import (
    TSRReplayBuffer,
    TSRReplayBufferAsync,
    VarianceFilterSettings,
    last_output_keys,
)

# uid -> episode returns of its rollout.n = 4 sessions. Sample stds: a 0, b 0.577, c 1.732, d 1.0.
GROUPS = {"a": [1.0, 1.0, 1.0, 1.0], "b": [0.0, 1.0, 0.0, 1.0], "c": [0.0, 3.0, 0.0, 3.0], "d": [0.0, 0.0, 0.0, 2.0]}


def _episode(ret: float, session: int, error: str | None = None) -> dict:
    """One stored trajectory as the TSR agent loop writes it (reward at the last token); ``error``
    makes it a crashed episode (``ret`` is then the loop's ``error_penalty``)."""
    info = {
        "success": float(ret > 0),
        "episode_return": ret,
        "tsr_proposals": 4.0 + session,
        "note": "x",
        "tsr_error": float(error is not None),
    }
    extra = {"reward_extra_info": info, **({"tsr_error_message": error} if error else {})}
    return {"rm_scores": torch.tensor([0.0, 0.0, ret]), "extra_fields": extra}


class FakeTQ:
    """In-memory stand-in for the ``transfer_queue`` kv functions the replay buffer calls."""

    def __init__(self) -> None:
        self.tags: dict[str, dict[str, dict]] = {}
        self.values: dict[str, dict[str, dict]] = {}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeTQ:
        for name in ("kv_list", "kv_batch_get", "kv_clear"):
            monkeypatch.setattr(transfer_queue, name, getattr(self, name))
        return self

    def add_groups(
        self, groups: dict[str, list[float]], partition: str = "train", crashed: dict[str, int] | None = None
    ) -> None:
        """``crashed``: uid -> the session that ended with ``tsr_error=1`` (its return = the penalty)."""
        for uid, returns in groups.items():
            self.tags.setdefault(partition, {})[uid] = {"is_prompt": True, "status": "finished", "global_steps": 1}
            for s, ret in enumerate(returns):
                key = f"{uid}_{s}_0"
                self.tags[partition][key] = {"status": "success", "seq_len": 3}
                error = "OSError('disk on fire')" if (crashed or {}).get(uid) == s else None
                self.values.setdefault(partition, {})[key] = _episode(ret, s, error)

    def kv_list(self, partition_id: str | None = None) -> dict:
        return {p: dict(t) for p, t in self.tags.items()}

    def kv_batch_get(self, keys: list[str], partition_id: str, select_fields: list[str]):
        rows = [{f: self.values[partition_id][k][f] for f in select_fields} for k in keys]
        return list_of_dict_to_tensordict(rows)

    def kv_clear(self, keys: list[str], partition_id: str) -> None:
        for key in keys:
            self.tags.get(partition_id, {}).pop(key, None)
            self.values.get(partition_id, {}).pop(key, None)


def _make(cls=TSRReplayBuffer, mode: str = "sync", **sampler_kwargs):
    return cls(
        trainer_mode=mode,
        trainer_config=OmegaConf.create({}),
        max_off_policy_threshold=None,
        max_off_policy_strategy="drop",
        sampler_kwargs=OmegaConf.create(sampler_kwargs),
        poll_interval=0.0,
        refill_fn=lambda n: n,
    )


def _uids(batch) -> list[str]:
    return sorted({key.split("_")[0] for key in batch.keys})


def _mean(groups: dict[str, list[float]], uids) -> float:
    return statistics.fmean(r for u in uids for r in groups[u])


def test_top_k_ratio_keeps_highest_std_groups_and_logs(monkeypatch):
    fake = FakeTQ().install(monkeypatch)
    fake.add_groups(GROUPS)
    rb = _make(enable=True, strategy="top_k_ratio", top_k_ratio=0.5)
    batch, metrics = rb.sample(global_steps=1, partition_id="train", batch_size=4)

    assert _uids(batch) == ["c", "d"]  # int(0.5 * 4) = 2 largest stds
    assert sorted(batch.keys) == [f"{u}_{s}_0" for u in "cd" for s in range(4)]
    # Dropped groups are cleared; kept prompt keys are consumed; kept trajectories stay for training.
    assert set(fake.tags["train"]) == set(fake.values["train"]) == set(batch.keys)
    assert metrics["tsr_filter/groups_before"] == 4
    assert metrics["tsr_filter/groups_kept"] == 2
    assert metrics["tsr_filter/groups_dropped"] == 2
    assert metrics["tsr_filter/zero_variance_groups"] == 1
    assert metrics["tsr_filter/zero_variance_fraction"] == 0.25
    assert metrics["tsr_filter/error_groups"] == 0
    assert metrics["tsr_filter/fallback_keep_all"] == 0
    assert metrics["tsr_filter/mean_return_before"] == pytest.approx(_mean(GROUPS, "abcd"))
    assert metrics["tsr_filter/mean_return_after"] == pytest.approx(_mean(GROUPS, "cd"))
    stds = {u: statistics.stdev(r) for u, r in GROUPS.items()}
    assert metrics["tsr_filter/mean_std_before"] == pytest.approx(statistics.fmean(stds.values()))
    assert metrics["tsr_filter/mean_std_after"] == pytest.approx((stds["c"] + stds["d"]) / 2)
    # reward_extra_info means over all 16 sampled episodes, tsr_ prefix folded into tsr/.
    assert metrics["tsr/episode_return"] == pytest.approx(_mean(GROUPS, "abcd"))
    assert metrics["tsr/success"] == pytest.approx(9 / 16)
    assert metrics["tsr/proposals"] == pytest.approx(5.5)
    assert "tsr/note" not in metrics


def test_zero_variance_drop_only(monkeypatch):
    FakeTQ().install(monkeypatch).add_groups(GROUPS)
    rb = _make(enable=True, strategy="none", include_zero=False)
    batch, metrics = rb.sample(global_steps=1, partition_id="train", batch_size=4)
    assert _uids(batch) == ["b", "c", "d"]
    assert metrics["tsr_filter/groups_dropped"] == 1


def test_top_k_and_top_p_strategies(monkeypatch):
    FakeTQ().install(monkeypatch).add_groups(GROUPS)
    batch, _ = _make(enable=True, strategy="top_k", top_k=1).sample(1, "train", 4)
    assert _uids(batch) == ["c"]
    FakeTQ().install(monkeypatch).add_groups(GROUPS)
    # std mass: c 1.732 + d 1.0 = 2.732 >= 0.8 * 3.309 - 0.01 = 2.637, c alone is not.
    batch, _ = _make(enable=True, strategy="top_p", top_p=0.8).sample(1, "train", 4)
    assert _uids(batch) == ["c", "d"]


def test_disabled_keeps_everything_but_still_logs_extra_info(monkeypatch):
    FakeTQ().install(monkeypatch).add_groups(GROUPS)
    batch, metrics = _make().sample(global_steps=1, partition_id="train", batch_size=4)
    assert _uids(batch) == ["a", "b", "c", "d"]
    # No ranking statistics, only the failed-group count (always reported).
    assert {k for k in metrics if k.startswith("tsr_filter/")} == {"tsr_filter/error_groups"}
    assert metrics["tsr_filter/error_groups"] == 0
    assert metrics["tsr/success"] == pytest.approx(9 / 16)


def test_all_filtered_falls_back_to_whole_batch(monkeypatch):
    FakeTQ().install(monkeypatch).add_groups({"a": [1.0] * 4, "e": [0.0] * 4})
    batch, metrics = _make(enable=True, strategy="none", include_zero=False).sample(1, "train", 2)
    assert _uids(batch) == ["a", "e"]
    assert metrics["tsr_filter/fallback_keep_all"] == 1
    assert metrics["tsr_filter/groups_kept"] == 2
    assert metrics["tsr_filter/mean_return_after"] == metrics["tsr_filter/mean_return_before"] == 0.5


# Two clean zero-variance groups and "z": three zero-return sessions and one that crashed (return =
# error_penalty -1). Counted as an episode, the crash gives z std 0.5: the only "informative" group.
CRASH = {"a": [1.0] * 4, "e": [0.0] * 4, "z": [0.0, 0.0, -1.0, 0.0]}


def test_a_crashed_episode_drops_its_group_before_ranking(monkeypatch):
    fake = FakeTQ().install(monkeypatch)
    fake.add_groups(CRASH, crashed={"z": 2})
    batch, metrics = _make(enable=True, strategy="top_k", top_k=1).sample(1, "train", 3)

    assert _uids(batch) == ["a"]  # not z; a and e tie at std 0, the first uid wins
    assert not any(k.startswith("z") for k in fake.tags["train"])  # z cleared from TransferQueue
    assert metrics["tsr_filter/error_groups"] == 1
    # Group statistics count only the clean groups a and e, both zero-variance.
    assert metrics["tsr_filter/groups_before"] == 2 and metrics["tsr_filter/groups_dropped"] == 1
    assert metrics["tsr_filter/zero_variance_fraction"] == 1.0
    assert metrics["tsr_filter/mean_return_before"] == 0.5 and metrics["tsr_filter/mean_std_before"] == 0
    # tsr/* means skip the crashed session (no -1 in the mean return); tsr/error counts it.
    assert metrics["tsr/episode_return"] == pytest.approx(4 / 11)
    assert metrics["tsr/error"] == pytest.approx(1 / 12)


def test_crashed_groups_are_dropped_even_without_filtering(monkeypatch):
    fake = FakeTQ().install(monkeypatch)
    fake.add_groups(CRASH, crashed={"z": 2})
    batch, metrics = _make().sample(1, "train", 3)
    assert _uids(batch) == ["a", "e"]
    assert sorted(fake.tags["train"]) == sorted(batch.keys)
    assert metrics["tsr_filter/error_groups"] == 1


def test_a_step_where_every_group_crashed_fails_with_the_error(monkeypatch):
    FakeTQ().install(monkeypatch).add_groups({"y": [0.0, -1.0], "z": [-1.0, 0.0]}, crashed={"y": 1, "z": 0})
    with pytest.raises(RuntimeError, match=r"every one of the 2 prompt groups.*disk on fire"):
        _make(enable=True).sample(1, "train", 2)


def test_validation_partition_is_not_filtered(monkeypatch):
    FakeTQ().install(monkeypatch).add_groups(GROUPS, partition="val")
    batch, metrics = _make(enable=True, strategy="top_k", top_k=1).sample(1, "val", 4)
    assert _uids(batch) == ["a", "b", "c", "d"]
    assert metrics == {}


def test_extra_info_metric_ranks_groups(monkeypatch):
    FakeTQ().install(monkeypatch).add_groups(GROUPS)
    # success (ret > 0): a all 1 (std 0), b and c half (0.577), d one of four (0.5).
    batch, metrics = _make(enable=True, strategy="top_k", top_k=2, metric="success").sample(1, "train", 4)
    assert _uids(batch) == ["b", "c"]
    assert metrics["tsr_filter/mean_return_before"] == pytest.approx(9 / 16)
    FakeTQ().install(monkeypatch).add_groups(GROUPS)
    with pytest.raises(RuntimeError, match=r"sampler_kwargs\.metric='missing'"):
        _make(enable=True, metric="missing").sample(1, "train", 4)


def test_async_buffer_filters_through_replay_buffer_async(monkeypatch):
    FakeTQ().install(monkeypatch).add_groups(GROUPS)
    rb = _make(TSRReplayBufferAsync, "colocate_async", enable=True, strategy="top_k_ratio", top_k_ratio=0.25)
    batch, metrics = rb.sample(global_steps=1, partition_id="train", batch_size=4)
    assert _uids(batch) == ["c"]
    assert metrics["tsr_filter/groups_kept"] == 1


@pytest.mark.parametrize("estimator", ["grpo", "gae"])
def test_filtered_batch_feeds_veRL_advantage_estimators(monkeypatch, estimator):
    """The kept rows go through V1's real ``compute_advantage_for_multi_trajectories`` unchanged."""
    from verl.protocol import DataProto
    from verl.trainer.ppo.v1.utils import compute_advantage_for_multi_trajectories

    fake = FakeTQ().install(monkeypatch)
    fake.add_groups(GROUPS)
    batch, _ = _make(enable=True, strategy="none", include_zero=False).sample(1, "train", 4)
    rewards = torch.stack([fake.values["train"][k]["rm_scores"] for k in batch.keys])
    data = DataProto.from_dict(
        tensors={"token_level_rewards": rewards, "response_mask": torch.ones_like(rewards), "values": rewards * 0},
        non_tensors={"uid": np.array([k.split("_")[0] for k in batch.keys], dtype=object)},
    )
    out = compute_advantage_for_multi_trajectories(
        data, batch_keys=batch.keys, adv_estimator=estimator, num_repeat=4, config=OmegaConf.create({})
    )
    assert out.batch["advantages"].shape == (12, 3)  # b, c, d x 4 sessions; zero-variance a is gone
    if estimator == "grpo":  # every remaining group has signal: no all-zero group of advantages
        per_row = out.batch["advantages"][:, 0].reshape(-1)
        for uid in "bcd":
            rows = [i for i, k in enumerate(batch.keys) if k.startswith(uid)]
            assert per_row[rows].abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"ddof": 0}, "sampler_kwargs: unknown key(s) ['ddof']"),
        ({"strategy": "best"}, "sampler_kwargs.strategy"),
        ({"strategy": "top_k"}, "sampler_kwargs.top_k"),
        ({"top_k": 0}, "sampler_kwargs.top_k"),
        ({"top_k_ratio": 1.5}, "sampler_kwargs.top_k_ratio"),
        ({"top_p": 0}, "sampler_kwargs.top_p"),
        ({"enable": "yes"}, "sampler_kwargs.enable"),
        ({"metric": ""}, "sampler_kwargs.metric"),
    ],
)
def test_bad_config_names_the_key(kwargs, key):
    with pytest.raises(ValueError, match=re.escape(key)):
        VarianceFilterSettings.from_kwargs(kwargs)


def test_wrong_class_for_trainer_mode_names_the_key():
    with pytest.raises(ValueError, match="custom_sampler.name=TSRReplayBuffer .*use TSRReplayBufferAsync"):
        _make(TSRReplayBuffer, "colocate_async")
    with pytest.raises(ValueError, match="use TSRReplayBuffer$"):
        _make(TSRReplayBufferAsync, "sync")


def test_veRL_trainer_builds_sampler_from_hydra_flags():
    """The real ``PPOTrainer._build_replay_buffer`` on composed ppo_trainer config, both config styles."""
    from hydra import compose, initialize_config_module

    sampler = [
        "trainer.v1.sampler.custom_sampler.path=pkg://tsr_verl.integration.sampler",
        "trainer.v1.sampler.custom_sampler.name=TSRReplayBuffer",
    ]
    with initialize_config_module("verl.trainer.config", version_base=None):
        flat = compose(
            "ppo_trainer",
            overrides=[*sampler, "+trainer.v1.sampler.sampler_kwargs.enable=true"]
            + ["+trainer.v1.sampler.sampler_kwargs.strategy=top_k_ratio"]
            + ["+trainer.v1.sampler.sampler_kwargs.top_k_ratio=0.5"],
        )
        aliased = compose(
            "ppo_trainer",
            overrides=[*sampler, "+algorithm.reward_variance_filtering.enable=true"]
            + ["+algorithm.reward_variance_filtering.strategy=top_p"]
            + ["+algorithm.reward_variance_filtering.top_p=0.7"]
            + ["trainer.v1.sampler.sampler_kwargs=${algorithm.reward_variance_filtering}"],
        )
    built = []
    for cfg in (flat, aliased):
        trainer = types.SimpleNamespace(config=cfg, trainer_mode=cfg.trainer.v1.trainer_mode)
        trainer._add_prompts_to_generate = lambda n: n
        built.append(PPOTrainer._build_replay_buffer(trainer))
    assert all(type(rb) is TSRReplayBuffer for rb in built)
    assert built[0].settings.filter_config().strategy == "top_k_ratio"
    assert built[0].settings.filter_config().value == 0.5
    assert (built[1].settings.strategy, built[1].settings.top_p) == ("top_p", 0.7)


def test_last_output_keys_and_metric_helpers():
    keys = ["u_0_0", "u_0_1", "u_1_0", "v_0_2", "v_0_10"]
    assert last_output_keys(keys) == ["u_0_1", "u_1_0", "v_0_10"]
    metrics = reward_extra_info_metrics(
        [
            {"reward_extra_info": {"success": True, "tsr_forks": np.int64(2), "bad": float("nan")}},
            {"reward_extra_info": {"success": np.float32(0.0)}},
            None,
            {"turn_scores": [1.0]},
        ]
    )
    assert metrics == {"tsr/forks": 2.0, "tsr/success": 0.5}  # NaN and non-dict rows skipped


@pytest.mark.slow
def test_real_transfer_queue_sample():
    """End to end on a real TransferQueue (Ray with 4 logical CPUs; ~20 s)."""
    import ray

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    try:
        transfer_queue.init()
        fake = FakeTQ()
        fake.add_groups(GROUPS)
        keys = [k for k in fake.values["train"]]
        transfer_queue.kv_batch_put(
            keys=keys,
            partition_id="train",
            fields=list_of_dict_to_tensordict([fake.values["train"][k] for k in keys]),
            tags=[fake.tags["train"][k] for k in keys],
        )
        for uid in GROUPS:
            transfer_queue.kv_put(key=uid, partition_id="train", tag=fake.tags["train"][uid])
        rb = _make(enable=True, strategy="top_k_ratio", top_k_ratio=0.5)
        batch, metrics = rb.sample(global_steps=1, partition_id="train", batch_size=4)
        assert _uids(batch) == ["c", "d"]
        assert metrics["tsr_filter/groups_dropped"] == 2
        assert metrics["tsr/success"] == pytest.approx(9 / 16)
        remaining = transfer_queue.kv_list().get("train", {})
        assert sorted(remaining) == sorted(batch.keys)  # dropped groups and consumed prompts cleared
    finally:
        ray.shutdown()
