"""An MkDocs hook: the command-line reference, generated from lnn's Typer app at build time.

A page that contains the line ``<!-- cli-reference -->`` gets, in its place, one
section per command of ``lnn`` (in the app's order): its help text, its usage, and a
table of its arguments and options grouped by their help panel, with the defaults
the ``--help`` screen shows. The reference therefore cannot drift from the code.
Used by ``mkdocs.yml`` (``hooks:``).
"""

from __future__ import annotations

import html
import inspect

import click
import typer

MARKER = "<!-- cli-reference -->"


def _cell(text: str, code: bool = False) -> str:
    text = " ".join(text.split())
    return (text if code else html.escape(text, quote=False)).replace("|", "\\|")


def _section(name: str, command: click.Command, parent: click.Context) -> str:
    ctx = click.Context(command, info_name=name, parent=parent)
    out = [f"## `lnn {name}`", ""]
    if command.help:
        out += [inspect.cleandoc(command.help).replace("\b\n", ""), ""]
    out += ["```text", f"lnn {name} {' '.join(command.collect_usage_pieces(ctx))}", "```", ""]
    panels: dict[str, list[tuple[str, str]]] = {"Arguments": []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        kind = "Arguments" if param.param_type_name == "argument" else "Options"
        panel = getattr(param, "rich_help_panel", None) or kind
        panels.setdefault(panel, []).append(record)
    for panel, records in panels.items():
        if not records:
            continue
        out += [f"**{panel}**", "", "| | |", "|---|---|"]
        out += [f"| `{_cell(names, code=True)}` | {_cell(help_text)} |" for names, help_text in records]
        out.append("")
    return "\n".join(out)


def reference() -> str:
    from lnn.cli import app

    group = typer.main.get_command(app)
    root = click.Context(group, info_name="lnn")
    names = group.list_commands(root)  # type: ignore[attr-defined]
    return "\n".join(_section(n, group.get_command(root, n), root) for n in names)  # type: ignore[attr-defined]


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference())
