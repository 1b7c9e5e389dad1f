"""Suite-wide settings.

Under CI (``CI=true``) property tests run derandomized, so a verdict can be reproduced from
the commit alone; runs elsewhere draw fresh random examples each time and keep finding new
cases (a failing example is printed with the decorator that replays it).
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")
