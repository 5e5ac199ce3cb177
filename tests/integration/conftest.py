"""Servers that integration tests point tasks at: real ones, on 127.0.0.1."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from tests import receivers


@pytest.fixture
def receiver() -> Iterator[receivers.Receiver]:
    server = receivers.Receiver()
    yield server
    server.stop()


@pytest.fixture
def https_receiver(tmp_path: pathlib.Path) -> Iterator[receivers.Receiver]:
    server = receivers.Receiver(tls_dir=tmp_path / "tls")
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[receivers.SmtpServer]:
    server = receivers.SmtpServer()
    yield server
    server.stop()
