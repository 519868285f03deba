"""The architecture's rules that import-linter's layer contract (run by .ci/run) does not cover.

* No module imports another package's private modules or names: ``lnn.observed`` may
  use ``lnn.observed._matching`` but not ``lnn.training._step``; lnn's own shared
  internals at the top (``lnn._angles``, ``lnn._precision``) are open to all.
* Types, not duck typing: no ``hasattr`` or signature probing anywhere in ``src/lnn``.
* ``import lnn`` changes no global configuration (float64 stays off).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lnn"
MODULES = sorted(SRC.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """(line, imported module, imported name or None) of every import of lnn in ``path``."""
    tree = ast.parse(path.read_text())
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative import: resolve against the package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            for alias in node.names:
                yield node.lineno, module, alias.name


def _owner(module: str) -> str:
    """The first-level package a module belongs to (``lnn.observed._matching`` -> ``lnn.observed``)."""
    return ".".join(module.split(".")[:2])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_another_packages_private_names(path):
    here = _owner(_module_name(path))
    bad = []
    for line, module, name in _imports(path):
        if module != "lnn" and not module.startswith("lnn."):
            continue
        parts = module.split(".")
        private_module = any(p.startswith("_") for p in parts[2:])
        private_name = name is not None and name.startswith("_") and module != "lnn"
        if (private_module or private_name) and _owner(module) != here:
            bad.append(f"line {line}: {module}{'' if name is None else ' import ' + name}")
    assert not bad, f"{path.relative_to(SRC)} reaches into another package's privates: {bad}"


def test_no_duck_typed_dispatch_in_the_library():
    found = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr":
                found.append(f"{path.relative_to(SRC)}:{node.lineno} hasattr")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "signature"
                and isinstance(node.value, ast.Name)
                and node.value.id == "inspect"
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} inspect.signature")
    assert not found, found


def test_importing_lnn_leaves_jax_precision_alone():
    code = "import jax, lnn; assert not jax.config.jax_enable_x64, 'import lnn switched on float64'; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
