"""The C extensions' own tests: skipped where one is not built, failed in CI.

CI installs with a C compiler (``pip install -e .``), so a module missing
there is a broken build, not a machine without a compiler.
"""

from __future__ import annotations

import os

import pytest


def require_built(built: bool, what: str) -> None:
    """Skip (fail, under ``CI``) the calling module or test unless ``built``."""
    if built:
        return
    message = f"the C {what} is not built (pip install -e . with a C compiler)"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI requires it)", pytrace=False)
    pytest.skip(message, allow_module_level=True)
