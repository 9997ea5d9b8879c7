"""veRL plugin entry point (``verl.plugins``): registers the ``tsr_agent`` / ``tsr_eval`` loops.

``import verl`` loads it in every process (driver, Ray workers); see ``tsr_verl.integration.registration``.
"""

from tsr_verl.integration.registration import register

register()
