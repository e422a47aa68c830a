"""Skipping a test for a system tool that is not installed, in one way that CI can recognise.

``missing(tool, install)`` is the skip reason: ``.ci/run`` sets ``DISGUISE_REQUIRE_TOOLS=1`` and
``conftest.py`` turns exactly these skips (and no other) into failures, since CI installs every
tool the tests need.
"""

from __future__ import annotations

PREFIX = "missing tool: "


def missing(tool: str, install: str) -> str:
    """The reason to skip with: which tool, and how to install it."""
    return f"{PREFIX}{tool} is not installed ({install}); .ci/run installs it"


def is_missing_tool(reason: str) -> bool:
    return PREFIX in reason
