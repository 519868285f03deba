"""Shared configuration and fixtures of the lnn test suite.

* float64 is switched on here, before any array exists: every physics tolerance
  in these tests (1e-9 relative and tighter) relies on it, and ``import lnn``
  deliberately leaves JAX's configuration alone.
* Runtime shape and type checks: lnn is imported under jaxtyping's import hook with
  beartype, so every annotated function checks its arguments' types and shapes
  (``Float[Array, "B n"]``) on every call (under ``jit``, once per trace).
  ``LNN_TYPECHECK=0`` imports lnn without them. A test that hands lnn a wrong
  type or shape on purpose, to test lnn's own message, is marked ``wrong_types``
  and runs with the checker paused (it would reject the input first).
* JAX's persistent compilation cache (``LNN_JAX_CACHE``, default a folder in the
  system's temporary directory): tests compile many identical programs (the same
  model structure, the same true system), and both workers share what either
  compiled; its keys include the program and the JAX version, so it is never stale.
* Hypothesis: JIT compilation makes the first example of a property test slow, so
  there is no deadline. The default profile is derandomised (same examples every
  run, for CI); ``HYPOTHESIS_PROFILE=thorough`` runs many more, randomised.
* Tiny models and datasets shared by many tests are fixtures here.
"""

import os
import tempfile

import jax

jax.config.update("jax_enable_x64", True)
_cache = os.environ.get("LNN_JAX_CACHE", os.path.join(tempfile.gettempdir(), "lnn-tests-jax-cache"))
if _cache:  # LNN_JAX_CACHE= (empty) compiles everything afresh
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

import jaxtyping  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402
from jaxtyping import install_import_hook  # noqa: E402

if os.environ.get("LNN_TYPECHECK", "1") == "1":
    with install_import_hook("lnn", "_typecheck.typechecker"):
        import lnn
else:
    import lnn

settings.register_profile("lnn", deadline=None, max_examples=25, derandomize=True)
settings.register_profile("thorough", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "lnn"))


@pytest.fixture(autouse=True)
def _checker_paused_for_wrong_types(request):
    """Pause the runtime type checker for a test marked ``wrong_types``."""
    if request.node.get_closest_marker("wrong_types") is None:
        yield
        return
    paused = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", paused)


@pytest.fixture
def key():
    """A PRNG key; tests that need several split it or fold in."""
    return jax.random.key(20240611)


@pytest.fixture(scope="session")
def pendulum():
    return lnn.systems.get("pendulum")


@pytest.fixture(scope="session")
def double_pendulum():
    return lnn.systems.get("double_pendulum")


@pytest.fixture(scope="session")
def pendulum_states(pendulum):
    """2,000 independent pendulum states with exact accelerations (a Dataset)."""
    return lnn.random_states(pendulum, jax.random.key(3), 2000)


@pytest.fixture(scope="session")
def tiny_lnn():
    """A 16 × 2 LagrangianNN of the double pendulum's two angles, float64."""
    return lnn.LagrangianNN(
        2, key=jax.random.key(1), width=16, depth=2, angles=(True, True), qdot_scale=5.0, dtype="float64"
    )


@pytest.fixture(scope="session")
def tiny_models():
    """One small float64 model of each kind for the double pendulum, by role name."""
    system = lnn.systems.get("double_pendulum")
    data = lnn.random_states(system, jax.random.key(4), 256)
    return {
        name: lnn.build_model(
            name, data, jax.random.key(i), angles=system.angles, width=16, depth=2, dtype="float64", true_system=system
        )
        for i, name in enumerate(lnn.training.MODEL_NAMES)
    }
