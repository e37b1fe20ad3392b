"""Fixtures for the control-plane tests: loopback backends and the shared Envoy harness."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.envoy_harness import Backend, run_backend


@pytest.fixture
async def backend_a() -> AsyncIterator[Backend]:
    async with run_backend("backend-a", "127.0.21.11") as backend:
        yield backend


@pytest.fixture
async def backend_b() -> AsyncIterator[Backend]:
    async with run_backend("backend-b", "127.0.21.12") as backend:
        yield backend
