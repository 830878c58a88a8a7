"""Settings for the whole test suite.

``make test`` (and so CI) runs Hypothesis with the ``ci`` profile: derandomized, so every run
explores the same examples and a red CI always means a change broke something. Run pytest
directly (no ``HYPOTHESIS_PROFILE``) to explore new random examples; counterexamples found that
way are pinned with ``@example`` in their test.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
