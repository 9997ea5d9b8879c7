"""The veRL integration: the only package of tsr_verl that imports veRL, vLLM or torch.

* ``agent_loop``: the ``tsr_agent`` / ``tsr_eval`` agent loops (one searched episode per session);
* ``proposer``: the search driver's proposer, backed by veRL's server manager;
* ``loop_config``: ``TSRConfig``, the ``actor_rollout_ref.rollout.custom.tsr`` keys;
* ``sampler``: StarPO-S instance filtering as a V1 replay buffer, plus per-step TSR metrics;
* ``metrics``: the per-step means of those metrics (names from ``search.metric_names``);
* ``sample_keys``: veRL's sample key ``{uid}_{session}_{index}``, parsed in one place;
* ``registration`` / ``plugin``: how veRL finds the loops (its ``verl.plugins`` entry point);
* ``models`` / ``warmstart``: the embedded default model, tiny test models, the format warm-start;
* ``smoke_task``: the reward of the smoke recipe.
"""
