"""Griffe extension: labkit's docstring examples rendered as code.

labkit writes its examples as Keras does: an `Example:` line, then doctest lines (`>>>` and
their output) at the docstring's own indentation. The Google style that mkdocstrings parses
expects a section's content indented under its title, so without this those lines would be
read as Markdown (`>>>` as quotes, `['a', 'b']` as links). This fences each such block as
`pycon` before the docstring is parsed; the source stays as it is, doctest-ready.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wraps every block of lines that starts with `>>>` (until a blank line) in a fence.

    Example:

    >>> fence_doctests("Example:\\n\\n>>> 1 + 1\\n2").splitlines()
    ['Example:', '', '```pycon', '>>> 1 + 1', '2', '```']
    """
    out: list[str] = []
    in_doctest = in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```") and not in_doctest:
            in_fence = not in_fence
        elif not in_fence and not in_doctest and line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            in_doctest = True
        elif in_doctest and not line.strip():
            out.append(f"{indent}```")
            in_doctest = False
        out.append(line)
    if in_doctest:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    """Fences the doctest blocks of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
