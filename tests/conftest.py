"""Shared fixtures: a fresh database and case service per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cases import CaseService
from bot.store.db import Database

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "soarbot.db")
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def cases(db: Database) -> CaseService:
    return CaseService(db)
