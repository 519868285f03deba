"""The documentation's code: README.md and every page under docs/.

* Every ```python block compiles (a ``--8<-- "FILE"`` line in it is the file, as in the
  built pages).
* The blocks of a page run in order, in one namespace per page (as in a notebook), in a
  temporary folder; a block right after a ``<!-- no-run -->`` line is skipped (training,
  long rollouts: seconds to minutes each), and so is one after ``<!-- compile-only -->``
  (it needs a file lnn does not ship, or a process of its own). ``LNN_DOCS_RUN_ALL=1``
  runs the ``no-run`` blocks too (minutes: after an API change, before a release).
* Every ``lnn COMMAND --option`` the docs show (shell blocks and inline code) names a
  command and options the CLI has.
* Every name a public subpackage exports has an entry in the API reference.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "_ext" not in p.parts)]
RUN_ALL = os.environ.get("LNN_DOCS_RUN_ALL", "0") == "1"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"^<!--\s*(no-run|compile-only)\b.*-->$")
_SNIPPET = re.compile(r'^\s*--8<--\s+"([^":]+)"\s*$')  # a whole file included by pymdownx.snippets


def _expand(line: str) -> str:
    m = _SNIPPET.match(line)
    return (ROOT / m.group(1)).read_text(encoding="utf-8").rstrip("\n") if m else line


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str | None  # "no-run", "compile-only" or None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, with the marker on the line before each (if any)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i, previous = [], 0, ""
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        indent, fence, start = len(m.group("indent")), m.group("fence"), i
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(_expand(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i]))
            i += 1
        marker = _MARKER.match(previous)
        found.append(Block(page, start + 1, m.group("lang").lower(), "\n".join(body), marker and marker.group(1)))
        previous, i = "", i + 1
    return found


def python_blocks(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.lang in ("python", "py")]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_docs_have_pages_and_code():
    """Guards the collection itself: a broken glob or fence parser would make every test below vacuous."""
    assert (DOCS / "index.md").exists() and len(PAGES) > 10
    assert sum(len(python_blocks(p)) for p in PAGES) > 20
    assert any(b.marker is None for p in PAGES for b in python_blocks(p))


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_python_blocks_compile(page):
    for block in python_blocks(page):
        try:
            compile(block.code, block.where, "exec")
        except SyntaxError as e:
            pytest.fail(f"{block.where}: {e}")


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=page_id)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the examples write (CSV recordings, runs/) land here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for block in python_blocks(page):
        if block.marker == "compile-only" or (block.marker == "no-run" and not RUN_ALL):
            continue
        try:
            exec(compile(block.code, block.where, "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"the block at {block.where} failed: {type(e).__name__}: {e}") from e
        ran += 1
    if not ran:
        pytest.skip("every Python block of this page is marked no-run or compile-only")


# ---- the command line the docs show -------------------------------------------------


def _cli() -> dict[str, set[str]]:
    """Command name -> the options it accepts (``--help`` included)."""
    from lnn.cli import app

    group = typer.main.get_command(app)
    commands = {"": {"--help", "--install-completion", "--show-completion"}}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        options = {"--help"}
        for param in command.params:
            options.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("-"))
        commands[name] = options
    return commands


def lnn_invocations(text: str) -> list[tuple[str, str, list[str]]]:
    """Each ``lnn ...`` call in some shell text: (the call as written, command, options)."""
    text = text.replace("\\\n", " ").replace("\\|", "|")
    calls = []
    for line in text.splitlines():
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split, lexer.commenters = True, "#"
            tokens = list(lexer)
        except ValueError:
            continue
        for i, token in enumerate(tokens):
            if token.rsplit("/", 1)[-1] != "lnn":
                continue
            rest = []
            for t in tokens[i + 1 :]:
                if t in ("|", "||", "&&", ";", "&", ">", ">>", "<"):
                    break
                rest.append(t.strip("[]"))
            command = rest[0] if rest and not rest[0].startswith("-") else ""
            if command.isupper() or command in ("...", "…"):  # a placeholder: `lnn COMMAND --help`
                continue
            options = [t.split("=", 1)[0] for t in rest if t.startswith("--")]
            calls.append((line.strip(), command, options))
    return calls


def shell_text(page: Path) -> list[tuple[str, str]]:
    """(where, text) of every shell block and every inline code span that starts with ``lnn``."""
    out = [(b.where, b.code) for b in blocks(page) if b.lang in ("bash", "sh", "shell", "console", "")]
    prose = re.sub(r"^[ \t]*(```|~~~).*?^[ \t]*\1", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    for span in re.findall(r"`(lnn [^`]+)`", prose):
        out.append((f"{page_id(page)} (inline)", span))
    return out


def test_the_cli_checker_sees_mistakes():
    cli = _cli()
    ((_, command, options),) = lnn_invocations("XLA_FLAGS=x .venv/bin/lnn train --stepz 3 --out=runs/a  # note")
    assert command == "train" and options == ["--stepz", "--out"]
    assert "--stepz" not in cli["train"] and "--out" in cli["train"]
    assert "bogus" not in cli


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_lnn_command_in_the_docs_exists(page):
    cli = _cli()
    problems = []
    for where, text in shell_text(page):
        for call, command, options in lnn_invocations(text):
            if command not in cli:
                problems.append(
                    f"{where}: `{call}`: no command '{command}' (the CLI has {sorted(c for c in cli if c)})"
                )
                continue
            unknown = [o for o in options if o not in cli[command]]
            if unknown:
                problems.append(f"{where}: `{call}`: lnn {command} has no option {', '.join(unknown)}")
    assert not problems, "\n".join(problems)


def test_the_docs_name_every_command():
    cli = _cli()
    named = {c for p in PAGES for _, text in shell_text(p) for _, c, _ in lnn_invocations(text)}
    assert set(cli) - {""} <= named, f"commands no page shows: {sorted(set(cli) - {''} - named)}"


# ---- the API reference covers every public name -------------------------------------


def _public_names(source: Path) -> list[str]:
    """A module's ``__all__``; without one, the functions, classes and UPPER_CASE constants it defines."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return [name for name in ast.literal_eval(node.value) if not name.startswith("__")]
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()]
    return [name for name in names if not name.startswith("_")]


PACKAGES = sorted(
    [p.parent.name for p in (ROOT / "src/lnn").glob("*/__init__.py")]
    + [p.stem for p in (ROOT / "src/lnn").glob("[!_]*.py")]
)


def test_the_package_list_is_complete():
    assert {"mechanics", "systems", "models", "training", "observed", "metrics", "symmetry", "cli"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_the_api_reference_documents_every_public_name(package):
    if package == "cli":  # the command line is documented by docs/cli.md, generated from the Typer app
        assert "<!-- cli-reference -->" in (DOCS / "cli.md").read_text(encoding="utf-8")
        return
    page = DOCS / "api" / f"{package}.md"
    assert page.exists(), f"no API page for lnn.{package}: add {page.relative_to(ROOT)}"
    text = page.read_text(encoding="utf-8")
    source = ROOT / "src/lnn" / package
    documented = set(re.findall(rf"^::: lnn\.{package}\.(\w+)", text, flags=re.M))
    missing = [
        n
        for n in _public_names(source / "__init__.py" if source.is_dir() else source.with_suffix(".py"))
        if n not in documented
    ]
    assert not missing, f"{page.relative_to(ROOT)} has no `::: lnn.{package}.NAME` for {missing}"
