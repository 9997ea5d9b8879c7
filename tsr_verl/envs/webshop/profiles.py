"""What differs between the WebShop profiles (``WebShopConfig.profile``): goal choice and prompt text.

Both profiles render upstream's pages (``pages.py``: ``Next >`` on every results page,
``Rating: N.A.``, an empty Reviews page), because RAGEN runs upstream's templates too
(webshop-minimal). They differ in what RAGEN's wrapper (``ragen/env/webshop/env.py``) adds:

* **Goal of a seed.** ``upstream``: goal number ``seed`` of the seed-233 goal list. ``ragen``:
  the seed is first mapped per mode (``test``: ``seed % 500``, ``val``: ``seed % 1000 + 500``,
  ``train``: ``seed % (N - 1500) + 1500``; N = number of goals) and the result looked up in a
  fixed permutation of ``range(N)`` (``random.Random(42).shuffle``), so RAGEN's test goals are
  500 goals spread over the whole list.
* **Instruction** (system prompt): RAGEN's ``env_instruction`` for WebShop plus its per-turn
  length line with WebShop's ``max_tokens`` 200 ("Max response length: 200 words (tokens).").
* **State text.** After the page text RAGEN appends ``"."``, its hint lines (kept verbatim,
  including the missing separator between two of them) and ``"\\n You must choose from these
  actions:" + ", ".join(actions) + "."``. Its action list is upstream's ``text_to_clickable`` in
  its order (buttons, then product links, then option values) after ``search[<content>]`` when
  the page has a search bar; ``click[next >]`` is dropped when the list is exactly back / prev /
  next (an empty results page).
* **Invalid actions.** RAGEN passes every parsed answer to the env, which ignores what it cannot
  do, and penalises only answers with no action at all; the env's ``match_action`` therefore
  accepts any ``search[...]``/``click[...]`` in this profile (stepped as a no-op if invalid).
"""

from __future__ import annotations

import random
from functools import lru_cache

from tsr_verl.envs.webshop.goals import split_of

RAGEN_PERMUTATION_SEED = 42
"""RAGEN's ``_get_permuted_index`` seed."""
RAGEN_MAX_TOKENS = 200
"""RAGEN's ``max_tokens`` for WebShop (config/envs.yaml), shown as the response-length line."""
RAGEN_SEARCH = "search[<content>]"
"""How RAGEN lists the search action."""
RAGEN_INSTRUCTION = (
    "You are browsing an online shop. Based on the instruction, buy a product that close to the production "
    "description. You need to search, read the search results, pick a product, choose the size and color and buy. "
    "You should only choose action from the available actions list provided later.  Example process: I need a "
    "gingko light and 20x20 pillow cover that is hand painted. First search[gingko light 20x20 pillow cover hand "
    "painted], answer format: <answer>search[blanket with fleece throw]</answer>. Valid answer is "
    "search[<keywords>] or click[<clickable>]."
)
"""RAGEN's WebShop ``env_instruction`` (config/envs.yaml), verbatim."""
RAGEN_HINTS: tuple[str, ...] = (
    "We must buy a product within 10 actions. It doesn't have to match perfectly with description.",
    "Search term should not include details like size, color.",
    "Never search for more than 2 times.",
    "Do not be too strict about the description, it's more important to buy one that is close enough within "
    "action limit.",
    "Prioritize click a product in the current page over going to next page.",
    # RAGEN's list lacks a comma here, so these two hints are one line in its prompts.
    "Almost never click[next >] for more than 2 times."
    "Almost never click[< prev] unless you are sure the product is on one of the previous pages.",
    "If you have less than 3 actions left, just buy the first product you see in the current page.",
    "If an matching option exists, make sure to click[size] then click[color], one at a time, before "
    "click[buy now], but don't have to if only 1 action left, in that case you just click[buy now]. "
    "Never click description.",
)
"""RAGEN's ``RENDER_INSTRUCTIONS`` (ragen/env/webshop/env.py), verbatim."""


@lru_cache(maxsize=16)
def ragen_permutation(n_goals: int) -> tuple[int, ...]:
    """RAGEN's fixed permutation of goal positions: ``Random(42).shuffle(list(range(n)))``."""
    order = list(range(n_goals))
    random.Random(RAGEN_PERMUTATION_SEED).shuffle(order)
    return tuple(order)


def ragen_goal_index(seed: int, n_goals: int, split: str = "auto") -> int:
    """The goal RAGEN's ``reset(seed, mode=split)`` plays (``auto``: the split of ``seed``'s range)."""
    if seed < 0:
        raise ValueError(f"webshop (ragen profile): seeds are >= 0, got {seed}")
    mode = split_of(seed) if split == "auto" else split
    if mode == "test":
        position = seed % 500
    elif mode == "val":
        position = seed % 1000 + 500
    else:
        if n_goals <= 1500:
            raise ValueError(f"webshop (ragen profile): the train mode needs > 1500 goals, there are {n_goals}")
        position = seed % (n_goals - 1500) + 1500
    if position >= n_goals:
        raise ValueError(
            f"webshop (ragen profile): seed {seed} ({mode}) maps to goal position {position}, "
            f"but there are only {n_goals} goals"
        )
    return ragen_permutation(n_goals)[position]


def ragen_actions(has_search_bar: bool, buttons: list[str], links: list[str], options: list[str]) -> list[str]:
    """RAGEN's action list from upstream's clickables (lower-cased texts, each kind in page order)."""
    seen = dict.fromkeys([*buttons, *links, *options])  # upstream's dict: first position wins
    out = [RAGEN_SEARCH] if has_search_bar else []
    out += [f"click[{text}]" for text in seen if text != "search"]
    if out == ["click[back to search]", "click[< prev]", "click[next >]"]:
        out.remove("click[next >]")
    return out


def ragen_state(page_text: str, actions: list[str]) -> str:
    """RAGEN's rendered state: page text, hints and the action list, joined exactly as RAGEN does."""
    return (
        page_text + "." + "\n".join(RAGEN_HINTS) + "\n You must choose from these actions:" + ", ".join(actions) + "."
    )


def ragen_instructions() -> str:
    """The ``ragen`` profile's system-prompt rules: RAGEN's instruction and its length line."""
    return f"{RAGEN_INSTRUCTION}\nMax response length: {RAGEN_MAX_TOKENS} words (tokens)."
