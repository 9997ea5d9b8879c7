"""tsr_verl: Trajectory-Search Rollouts (TSR, arXiv 2602.11767) as a veRL 0.9.1 extension.

Importing this package is cheap and needs neither vLLM nor a GPU: the heavy pieces (veRL glue,
model preparation) are imported by the modules that use them.
"""

__version__ = "0.1.0"
