"""Shared fixtures for the lnn test suite.

Importing lnn switches on float64; every physics tolerance below (1e-9 relative
and tighter) relies on that, so it is checked once here.
"""

import jax
import numpy as np
import pytest
from hypothesis import settings

import lnn

# JIT compilation makes the first example of a property test slow; no deadline.
settings.register_profile("lnn", deadline=None, max_examples=25, derandomize=True)
settings.load_profile("lnn")


def pytest_configure(config):
    assert jax.config.read("jax_enable_x64"), "importing lnn must enable float64"


@pytest.fixture
def key():
    """A fresh PRNG key; tests that need several split it."""
    return jax.random.key(20240611)


@pytest.fixture(scope="session")
def all_systems():
    """Every built-in system with its default parameters, by name."""
    return {name: lnn.systems.get(name) for name in lnn.systems.names()}
