"""Shared fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A PostgreSQL server on a free 127.0.0.1 port for the whole session."""
    from postgres import postgres_server

    with postgres_server() as uri:
        yield uri
