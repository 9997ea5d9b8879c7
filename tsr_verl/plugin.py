"""veRL plugin entry point (``verl.plugins``): registers the ``tsr_agent`` / ``tsr_eval`` loops.

``import verl`` loads it in every process (driver, Ray workers); see ``tsr_verl.registration``.
"""

from tsr_verl.registration import register

register()
