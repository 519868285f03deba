"""Shared configuration for the lnn test suite.

Importing lnn switches on float64; every physics tolerance in these tests (1e-9
relative and tighter) relies on that, so it is checked once here.

Hypothesis: JIT compilation makes the first example of a property test slow, so
there is no deadline. The default profile is derandomised (same examples every
run, for CI); ``HYPOTHESIS_PROFILE=thorough`` runs many more, randomised.
"""

import os

import jax
import pytest
from hypothesis import settings

import lnn  # noqa: F401  (enables float64)

settings.register_profile("lnn", deadline=None, max_examples=25, derandomize=True)
settings.register_profile("thorough", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lnn"))


def pytest_configure(config):
    assert jax.config.read("jax_enable_x64"), "importing lnn must enable float64"


@pytest.fixture
def key():
    """A PRNG key; tests that need several split it or fold in."""
    return jax.random.key(20240611)
