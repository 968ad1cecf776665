"""MkDocs hook: the committed notebooks, and the API reference pages written from `__all__`.

The notebooks stay in `notebooks/` (where JupyterLab, papermill and Colab open them) and are
added to the site from there; `mkdocs-jupyter` renders them. The reference pages are generated
at build time so that they follow the code: a name added to a module's `__all__`, or moved to
another module behind the same public name, needs no edit here. Names a package imports on first
use (`labkit._lazy`) are documented where they are defined, under their public name; every
other name through the public module itself.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

ROOT = Path(__file__).resolve().parents[1]

# The modules whose public names the reference documents, each on a page of its own.
REFERENCE_MODULES = ("labkit", "labkit.live", "labkit.sweep", "labkit.search", "labkit.report")


def public_names(module: ModuleType) -> list[str]:
    """The names `module` exports: its `__all__`, else what it defines without an underscore."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
    ]
    if not names:
        raise ValueError(f"`{module.__name__}` exports nothing to document: give it an `__all__`.")
    return names


def definition_path(module: ModuleType, name: str) -> str:
    """Where the reference reads `module.name` from: the defining module for lazy names."""
    lazy = getattr(module, "_LAZY", {})
    if name not in lazy:
        return f"{module.__name__}.{name}"
    # A lazy name may point at a package that is itself lazy (`labkit.LivePlot`).
    return definition_path(importlib.import_module(lazy[name]), name)


def page_path(module_name: str) -> str:
    """`labkit` -> `reference/labkit.md`, `labkit.live` -> `reference/live.md`."""
    return f"reference/{module_name.rpartition('.')[2]}.md"


def reference_page(module_name: str) -> str:
    """The Markdown of one module's reference page: its docstring, then every public name."""
    module = importlib.import_module(module_name)
    lines = [
        f"# `{module_name}`",
        "",
        f"::: {module_name}",
        "    options:",
        "      show_root_heading: false",
        "      members: false",
        "",
    ]
    for name in public_names(module):
        lines += [
            f"::: {definition_path(module, name)}",
            "    options:",
            f"      heading: {module_name}.{name}",
            f"      toc_label: {name}",
            "      show_if_no_docstring: true",
            "",
        ]
    return "\n".join(lines)


# Before mkdocs-jupyter's own `on_files`, which turns the notebooks into pages.
@event_priority(100)
def on_files(files: Files, config) -> Files:
    # The reference lists this checkout's names, as mkdocstrings reads them (`paths: [.]`),
    # whichever labkit is installed. (MkDocs restores `sys.path` after loading a hook.)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        path = notebook.relative_to(ROOT).as_posix()
        files.append(File(path, str(ROOT), config.site_dir, config.use_directory_urls))
    for module_name in REFERENCE_MODULES:
        content = reference_page(module_name)
        files.append(File.generated(config, page_path(module_name), content=content))
    return files


def on_page_content(html: str, page: Page, config, files: Files) -> str:
    # A notebook links labkit's README as `../README.md`, right in JupyterLab and on GitHub;
    # on the site that is the home page.
    if page.file.src_uri.startswith("notebooks/"):
        html = html.replace('href="../README.md"', f'href="{get_relative_url("./", page.url)}"')
    return html
