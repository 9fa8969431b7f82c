"""Griffe extension: display math in docstrings renders as display math on the site.

jaxrep's docstrings write display math as `$$...$$` lines inside a paragraph (which reads well in the
source and in `help()`), but `pymdownx.arithmatex` only recognises a `$$...$$` block that stands on
its own, between blank lines. This extension adds those blank lines around every `$$` block of a
docstring before mkdocstrings renders it; the source is unchanged.
"""

from __future__ import annotations

import griffe


def separate_display_math(text: str) -> str:
    """`text` with a blank line before and after each `$$...$$` block that starts a line."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith("$$"):
            out.append(lines[i])
            i += 1
            continue
        # the block runs until the line that closes its `$$` (possibly the same line)
        j, opened = i, 0
        while j < len(lines):
            opened += lines[j].count("$$")
            if opened % 2 == 0:
                break
            j += 1
        if out and out[-1].strip():
            out.append("")
        out.extend(lines[i : j + 1])
        if j + 1 < len(lines) and lines[j + 1].strip():
            out.append("")
        i = j + 1
    return "\n".join(out)


class DisplayMath(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None and "$$" in obj.docstring.value:
            obj.docstring.value = separate_display_math(obj.docstring.value)
