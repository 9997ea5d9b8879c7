"""The recipes as package data (``tsr_verl.recipes`` in an installed wheel); see ``tsr_verl.cli.jobs``."""
