"""A griffe extension: lnn's docstrings use a little reStructuredText; render it in Markdown.

lnn's docstrings are Google style, with Sphinx roles for cross-references
(``:func:`fit```, ``:class:`~lnn.mechanics.AbstractDynamics```), ``:math:`...```
for inline math and ``.. math::`` for displayed math. mkdocstrings renders
Markdown, so this extension rewrites, once the package is loaded:

* a role into a link to the object it names, resolved in the scope of the
  docstring's object the way Python would (its members, its module's imports,
  its parents); the link is optional (no warning if the object has no page) and
  a name that does not resolve stays inline code;
* ``:math:`x``` into ``$x$`` and a ``.. math::`` block into ``$$ ... $$``
  (pymdownx.arithmatex);
* reST's escaped space after a role (``:class:`Callback`\\ s``) into nothing;
* a run of ``>>>`` lines (a doctest outside an Examples section) into a
  ``pycon`` code block.

The source files are not changed. Used by ``mkdocs.yml`` (``extensions:``).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(func|class|meth|attr|data|mod|obj|exc|const):`([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)$")


def _resolve(obj: griffe.Object, target: str) -> str | None:
    """The canonical path of ``target`` as seen from ``obj``, or None."""
    head, _, rest = target.partition(".")
    try:
        path = obj.resolve(head)
    except (griffe.NameResolutionError, KeyError, AttributeError):
        if head != "lnn":
            return None
        path = "lnn"
    full = f"{path}.{rest}" if rest else path
    try:
        found = obj.modules_collection[full]
    except Exception:  # a name griffe cannot follow stays unlinked
        found = None
    if found is None:
        return full
    try:
        while found.is_alias:
            found = found.final_target
    except Exception:  # an alias to an external package
        return found.path
    return found.path


def _role(obj: griffe.Object, match: re.Match[str]) -> str:
    text = match.group(2).strip()
    explicit = re.fullmatch(r"(.+?)\s*<(.+)>", text)  # :func:`title <target>`
    if explicit:
        title, target = explicit.group(1), explicit.group(2)
    else:
        target = text.lstrip("~")
        title = target.rsplit(".", 1)[-1] if text.startswith("~") else target
    target = target.lstrip("~").removesuffix("()")
    path = _resolve(obj, target)
    code = f"<code>{html.escape(title)}</code>"
    if path is None:
        return code
    return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _math_blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _MATH_BLOCK.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent = m.group("indent")
        body = [m.group("first")] if m.group("first").strip() else []
        i += 1
        while i < len(lines):  # the block: the lines indented deeper than the directive
            if lines[i].strip():
                if _indent(lines[i]) <= len(indent):
                    break
                body.append(lines[i].strip())
            else:
                following = next((line for line in lines[i + 1 :] if line.strip()), "")
                if _indent(following) <= len(indent):
                    break
            i += 1
        out += ["", f"{indent}$$", *(f"{indent}{b}" for b in body), f"{indent}$$", ""]
    return "\n".join(out)


def _doctests(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith(">>>") and not (out and out[-1].lstrip().startswith("```")):
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += ["", f"{indent}```pycon", *block, f"{indent}```", ""]
        else:
            out.append(lines[i])
            i += 1
    return "\n".join(out)


def convert(obj: griffe.Object, text: str) -> str:
    text = _math_blocks(text)
    text = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", text)
    text = _ROLE.sub(lambda m: _role(obj, m), text)
    text = re.sub(r"(</autoref>|</code>)\\ ", r"\1", text)  # reST's "\ " after a role: no space
    return _doctests(text)


class SphinxMarkup(griffe.Extension):
    """Rewrite roles, math and doctests in every docstring of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = convert(obj, obj.docstring.value)
            stack.extend(m for m in obj.members.values() if not m.is_alias)
