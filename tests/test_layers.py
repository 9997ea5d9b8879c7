"""The package's layers, read from the source (every import, module-level or inside a function).

Lowest first: the base modules ``tsr_verl.io`` (file helpers) and ``tsr_verl.fields`` (config
field bounds) → ``tsr_verl.envs`` (text games) → ``tsr_verl.search``
(strategies, scorers, filtering) → ``tsr_verl.integration`` (the veRL glue) → ``tsr_verl.cli``
(the command line and tools). A module may import its own layer and the layers below, never one
above; only ``integration`` imports the ML stack (veRL, vLLM, torch, transformers); and the
modules form no import cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tsr_verl"
LAYERS: tuple[tuple[str, ...], ...] = (("io", "fields"), ("envs",), ("search",), ("integration",), ("cli",))
"""Each layer: the names under ``tsr_verl`` that form it (a base module or a subpackage)."""
ML_STACK = {"verl", "vllm", "torch", "transformers"}


def _modules() -> dict[str, Path]:
    """``tsr_verl.x.y`` -> file, for every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return found


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "tsr_verl" or len(parts) < 2:
        return None
    return next((i for i, names in enumerate(LAYERS) if parts[1] in names), None)


INTEGRATION = _layer("tsr_verl.integration")


def test_every_module_belongs_to_a_layer():
    stray = sorted(m for m in MODULES if m != "tsr_verl" and _layer(m) is None)
    assert not stray, f"modules outside the layers {LAYERS}: {stray}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_goes_up_a_layer(module):
    own = _layer(module)
    if own is None:
        return
    upward = sorted(i for i in _imports(module, MODULES[module]) if (_layer(i) or 0) > own)
    assert not upward, f"{module} (layer {'/'.join(LAYERS[own])}) imports from a higher layer: {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_integration_imports_the_ml_stack(module):
    heavy = sorted(i for i in _imports(module, MODULES[module]) if i.split(".")[0] in ML_STACK)
    if _layer(module) == INTEGRATION:
        return
    assert not heavy, f"{module} imports {heavy}; only tsr_verl.integration may import {sorted(ML_STACK)}"


def test_no_import_cycles():
    graph = {m: {i for i in _imports(m, p) if i in MODULES and i != m} for m, p in MODULES.items()}
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    graph = {m: {i for i in deps if not (m == "tsr_verl" or i.startswith(m + "."))} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
