"""Test-suite wide settings."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_model_cache(tmp_path_factory: pytest.TempPathFactory):
    """Learned policies trained by tests go to a temporary cache, never the user's ~/.cache/simoffload."""
    old = os.environ.get("SIMOFFLOAD_CACHE")
    os.environ["SIMOFFLOAD_CACHE"] = str(tmp_path_factory.mktemp("model-cache"))
    yield
    if old is None:
        os.environ.pop("SIMOFFLOAD_CACHE", None)
    else:
        os.environ["SIMOFFLOAD_CACHE"] = old
