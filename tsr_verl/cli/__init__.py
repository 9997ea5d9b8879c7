"""The ``tsr-verl`` command line and the tools behind it (may import ``tsr_verl.integration``).

* ``main``: argument parsing and sub-commands;
* ``launch`` / ``supervise`` / ``preflight``: compose, check and run a veRL ``main_ppo`` job
  (CPU launcher, process-group supervision, early config errors);
* ``quickstart``: the main job; ``eval`` / ``report``: policy-alone evaluation and its report;
* ``viewer``: the search-tree HTML viewer for episode dumps.
"""
