"""WebShop as a forkable tsr_verl text environment (upstream's text env, reimplemented).

An episode is one shopping instruction (``reset(seed)`` = goal number ``seed``). The agent
searches, pages through results, opens products, reads their sub-pages, picks options and buys.
Buying ends the episode with WebShop's purchase reward in [0, 1]; success is reward 1.0.

Actions (case-insensitive; canonical form lower-cased, as upstream lower-cases the argument):
``search[keywords]`` and ``click[x]`` where ``x`` is a button (``back to search``, ``next >``,
``< prev``, ``description``, ``features``, ``reviews``, ``buy now``), an ASIN on the results
page or an option value on the item page. An action that is not valid on the current page is a
no-op with reward 0 (upstream); the parser adds the format penalty.

Page flow, as upstream's ``SimServer``: ``< prev`` on a results page goes one page back, on an
item page back to the results (selected options are dropped), on a sub-page back to the item
page (options kept). ``back to search`` forgets the query and the visited products.

Profiles (``config.profile``, ``profiles.py``): ``upstream`` (default) is upstream's text env;
``ragen`` reproduces RAGEN's wrapper (goal permutation and seed mapping, instruction, hint lines
and action list in the state, any ``search[...]``/``click[...]`` accepted and an invalid one
stepped as a no-op). The profile is recorded in ``metadata()`` and in every purchase's info.

Forks are cheap: the session is an immutable ``pages.PageState`` plus a few scalars, and the
heavy ``world.World`` (catalog, goals, index) is shared, so ``fork`` copies nothing.
"""

from __future__ import annotations

import re
from dataclasses import asdict, replace
from typing import Any

from tsr_verl.envs.core import StepResult, TextEnv, build_config
from tsr_verl.envs.webshop import pages, profiles
from tsr_verl.envs.webshop.config import WebShopConfig
from tsr_verl.envs.webshop.pages import BACK_TO_SEARCH, BUY_NOW, NEXT_PAGE, PREV_PAGE, Element, PageState
from tsr_verl.envs.webshop.schema import Goal, RewardBreakdown
from tsr_verl.envs.webshop.world import World, get_world

_ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*$", re.IGNORECASE | re.DOTALL)
SEARCH_HINT = "search[<your query>]"


class WebShopEnv(TextEnv):
    """Upstream WebShop's text env on a shared ``World``; see the module docstring."""

    name = "webshop"
    actions = ("search[<query>]", "click[<button>]")

    def __init__(self, **cfg: Any) -> None:
        super().__init__()
        self.config: WebShopConfig = build_config(WebShopConfig, self.name, cfg)
        self.world: World = get_world(self.config)
        self._state = PageState()
        self._goal_index: int | None = None
        self._steps = 0
        self._terminated = self._truncated = False
        self._purchase: RewardBreakdown | None = None
        self._view: tuple[PageState, list[Element], dict[str, Element], str] | None = None

    # --- TextEnv API ---------------------------------------------------------------------------
    @property
    def lists_actions(self) -> bool:  # type: ignore[override]
        """The prompt lists ``available_actions()`` (upstream profile); RAGEN's state lists them itself."""
        return self.config.profile != "ragen"

    @property
    def instructions(self) -> str:
        if self.config.profile == "ragen":
            return profiles.ragen_instructions()
        per_page = self.config.results_per_page
        return (
            "You are shopping on WebShop, a simulated online store. Buy the product that best matches "
            "the instruction shown on each page: the right kind of product, the requested options "
            "(color, size, ...) and a price below the limit.\n"
            f"Actions: search[keywords] searches the store (results are listed {per_page} per page); "
            "click[x] clicks a button, a product id or an option value exactly as the page shows it, "
            "e.g. click[b0123abcd9], click[next >], click[< prev], click[back to search], "
            "click[description], click[large], click[buy now].\n"
            "Select every requested option on the product page before clicking buy now. Buying ends the "
            "episode with a reward from 0 to 1 for how well the purchase matches the instruction "
            "(1 = everything matches). An invalid action changes nothing."
        )

    def reset(self, seed: int) -> str:
        self._seed_rng(seed)
        count = len(self.world.goals)
        if self.config.profile == "ragen" and self.seed is not None:
            goal_index = profiles.ragen_goal_index(self.seed, count, self.config.ragen_split)
        elif self.seed is None or self.seed >= count:
            raise ValueError(
                f"webshop.reset: seed {seed} selects goal number {seed}, but there are only {count} "
                f"{self.config.goals} goals (valid seeds: 0..{count - 1})"
            )
        else:
            goal_index = self.seed
        self._goal_index, self._state, self._steps = goal_index, PageState(), 0
        self._terminated = self._truncated = False
        self._purchase, self._view = None, None
        return self.render()

    def match_action(self, text: str) -> str | None:
        """Canonical ``search[q]`` / ``click[x]`` if ``text`` is valid on the current page (``ragen``
        profile: if it is any ``search[...]``/``click[...]``), else None."""
        parsed = self._syntax(text) if self.config.profile == "ragen" else self._parse(text)
        return None if parsed is None else f"{parsed[0]}[{parsed[1]}]"

    def available_actions(self) -> tuple[str, ...]:
        if self.done or self._goal_index is None:
            return ()
        if self.config.profile == "ragen":
            return tuple(self._ragen_actions())
        out = [SEARCH_HINT] if self._search_allowed() else []
        return (*out, *(f"click[{text}]" for text in self._clickables()))

    def metadata(self) -> dict[str, Any]:
        """What a run should record about this env: the world's (catalog, search backend, noun
        extractor) plus the profile."""
        return {**self.world.metadata(), "profile": self.config.profile, "ragen_split": self.config.ragen_split}

    def seed_splits(self) -> dict[str, range]:
        """The fixed goal splits (test 0-499, val 500-1499, train the rest; for ``goals="both"``
        each kind's), so ``make-data`` never puts held-out goals into training rows."""
        goals = self.world.goals
        split = getattr(goals, "split", None)
        if (
            split is None or self.config.profile == "ragen"
        ):  # a plain goal list: the fixed positions of goals.SPLIT_BOUNDS
            from tsr_verl.envs.webshop.goals import split_range

            return {name: split_range(name, len(goals)) for name in ("test", "val", "train")}
        return {name: split(name) for name in ("test", "val", "train")}

    def step(self, action: str) -> StepResult:
        if self.done:
            raise RuntimeError("webshop.step: the episode has ended; call reset(seed) first")
        self._goal()  # raises before reset
        parsed, reward, extra = self._parse(action), 0.0, {}
        syntax = parsed if parsed is not None else self._syntax(action)
        if parsed is not None:
            verb, arg = parsed
            if verb == "search":
                self._state = self._search(arg)
            else:
                reward, extra = self._click(arg)
        self._steps += 1
        self._truncated = not self._terminated and self._steps >= self.config.max_steps
        info: dict[str, Any] = {
            "action_valid": parsed is not None,
            "action": None if syntax is None else f"{syntax[0]}[{syntax[1]}]",
            "page": self._state.kind,
            "success": self.success,
            **extra,
        }
        return StepResult(self.render(), reward, self._terminated, self._truncated, info)

    def render(self) -> str:
        return self._page()[3]

    @property
    def success(self) -> bool:
        return self._purchase is not None and self._purchase.reward >= 1.0

    @property
    def done(self) -> bool:
        return self._terminated or self._truncated

    def _copy_mutable_state(self) -> None:
        """Nothing to copy: ``PageState`` and the view memo are immutable, the world is shared."""

    # --- WebShop extras ---------------------------------------------------------------------------
    @property
    def goal(self) -> Goal:
        """The episode's goal (its ``instruction_text`` is shown on every page)."""
        return self._goal()

    @property
    def state(self) -> PageState:
        """The current page state (immutable)."""
        return self._state

    @property
    def steps(self) -> int:
        return self._steps

    @property
    def purchase(self) -> RewardBreakdown | None:
        """The reward breakdown of the purchase, once bought."""
        return self._purchase

    def progress(self) -> float:
        """Dense progress in [0, 1] for per-turn search (the env reward is 0 until purchase).

        The reward still to be collected from here, estimated from what the page shows: on an
        item page or its sub-pages, ``progress_item_weight`` times the reward buying now would
        get (this product, these options, its price); on a results page,
        ``progress_results_weight`` times the best such reward, with no options selected, among
        the products listed on the current page; 0 on the search page and once the episode has
        ended (a purchase's reward is already in the return). It is an oracle: the purchase
        reward reads the goal's hidden title, category and attributes and the attributes of listed
        products the agent never opened (the env acting as a reward model on a fork)."""
        state, cfg = self._state, self.config
        if self.done or self._goal_index is None or state.kind in ("search", "done"):
            return 0.0
        if state.kind == "results":
            listed = state.page_hits(cfg.results_per_page)
            best = max((self.world.reward(self._goal_index, i, ()).reward for i in listed), default=0.0)
            return min(1.0, max(0.0, cfg.progress_results_weight * best))
        assert state.product is not None
        now = self.world.reward(self._goal_index, state.product, state.options).reward
        return min(1.0, max(0.0, cfg.progress_item_weight * now))

    # --- transitions ------------------------------------------------------------------------------
    def _search(self, query: str) -> PageState:
        hits = self.world.search(query, self.config.top_k)
        return PageState("results", query=query, hits=hits, page=1, visited=self._state.visited)

    def _click(self, text: str) -> tuple[float, dict[str, Any]]:
        state, element = self._state, self._clickables()[text]
        if element.role == "link":
            self._state = replace(
                state,
                kind="item",
                product=self._hit(element.text),
                options=(),
                sub=None,
                visited=state.visited | {element.text},
            )
        elif element.role == "option":
            self._state = state.select(element.name, element.text)
        elif element.text == BACK_TO_SEARCH:
            self._state = PageState()
        elif element.text == NEXT_PAGE:
            self._state = replace(state, page=state.page + 1)
        elif element.text == PREV_PAGE:
            if state.kind == "results":
                self._state = replace(state, page=state.page - 1)
            elif state.kind == "sub":
                self._state = replace(state, kind="item", sub=None)
            else:  # item page -> the results page it came from; upstream drops the options
                self._state = replace(state, kind="results", product=None, options=())
        elif element.text == BUY_NOW:
            return self._buy()
        else:  # a sub-page button
            self._state = replace(state, kind="sub", sub=element.text)
        return 0.0, {}

    def _buy(self) -> tuple[float, dict[str, Any]]:
        state = self._state
        assert state.product is not None and self._goal_index is not None
        breakdown = self.world.reward(self._goal_index, state.product, state.options)
        self._purchase, self._terminated = breakdown, True
        self._state = replace(state, kind="done", reward=breakdown.reward)
        product = self.world.catalog.product(state.product)
        info = {
            "reward_breakdown": asdict(breakdown),
            "purchased_asin": product.asin,
            "selected_options": state.selected,
            "price": product.price,
            "profile": self.config.profile,
        }
        return float(breakdown.reward), info

    def _hit(self, asin: str) -> int:
        for index in self._state.page_hits(self.config.results_per_page):
            if self.world.catalog.product(index).asin == asin:
                return index
        raise KeyError(f"webshop: asin {asin!r} is not on the current results page")

    # --- helpers ----------------------------------------------------------------------------------
    def _goal(self) -> Goal:
        if self._goal_index is None:
            raise RuntimeError("webshop: no episode yet; call reset(seed) first")
        return self.world.goals[self._goal_index]

    def _search_allowed(self) -> bool:
        return self.config.search_anywhere or self._state.kind == "search"

    def _syntax(self, text: str) -> tuple[str, str] | None:
        """``(verb, lower-cased argument)`` of a ``search[...]``/``click[...]`` string (non-empty argument)."""
        if self.done or self._goal_index is None or not isinstance(text, str):
            return None
        m = _ACTION.match(text)
        if m is None:
            return None
        verb, arg = m.group(1).lower(), " ".join(m.group(2).split()).lower()
        return (verb, arg) if arg else None

    def _parse(self, text: str) -> tuple[str, str] | None:
        """``_syntax`` of ``text`` if the action is valid on the current page, else None."""
        syntax = self._syntax(text)
        if syntax is None:
            return None
        verb, arg = syntax
        if verb == "search":
            return (verb, arg) if arg and self._search_allowed() else None
        return (verb, arg) if arg in self._clickables() else None

    def _page(self) -> tuple[PageState, list[Element], dict[str, Element], str]:
        """(state, elements, clickables, observation) of the current state, memoised per state."""
        view = self._view
        if view is None or view[0] is not self._state:
            cfg = self.config
            elements = pages.page_elements(
                self._state,
                self._goal().instruction_text,
                self.world.catalog,
                cfg.results_per_page,
                cfg.show_attributes,
            )
            text = pages.render(elements, cfg.observation_mode)
            if cfg.profile == "ragen" and self._state.kind != "done":
                text = profiles.ragen_state(text, self._ragen_actions(elements))
            view = (self._state, elements, pages.clickables(elements), text)
            self._view = view
        return view

    def _clickables(self) -> dict[str, Element]:
        return self._page()[2]

    def _ragen_actions(self, elements: list[Element] | None = None) -> list[str]:
        """RAGEN's action list of the current page (``profiles.ragen_actions``)."""
        elements = self._page()[1] if elements is None else elements

        def texts(role: str) -> list[str]:
            return [" ".join(e.text.lower().split()) for e in elements if e.role == role]

        return profiles.ragen_actions(self._state.kind == "search", texts("button"), texts("link"), texts("option"))
