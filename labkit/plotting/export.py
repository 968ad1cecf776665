"""Figures to files: standalone HTML always; PNG, SVG, PDF, JPEG and WebP through `kaleido`.

Plotly draws images with `kaleido`, which since version 1 drives a Chrome-family browser that
must be installed on its own. labkit never downloads one: it uses the browser named by the
`BROWSER_PATH` environment variable (kaleido's own setting), else the first of
`BROWSER_NAMES` on `PATH` (Debian's `chromium`, which the browser test uses too). Where kaleido
or a browser is missing, an image export fails at once with one line that says what to
install; HTML export needs neither.

Example:

>>> save_figure(figure, "runs/live.html")
PosixPath('runs/live.html')
>>> save_figures({"runs/live.png": figure, "runs/curves.png": curves})
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import plotly.io

from labkit._checks import quoted
from labkit._io import atomic_file

__all__ = [
    "write_html",
    "save_figure",
    "save_figures",
    "find_browser",
    "image_export_problem",
    "BROWSER_ENV",
    "BROWSER_NAMES",
    "IMAGE_FORMATS",
]

BROWSER_ENV = "BROWSER_PATH"
# Chrome-family browsers kaleido can drive, by executable name, in the order they are tried.
BROWSER_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "microsoft-edge",
    "msedge",
)
IMAGE_FORMATS = ("png", "svg", "pdf", "jpeg", "jpg", "webp")
FORMATS = ("html", *IMAGE_FORMATS)
# Exported images are this wide unless the figure or the caller says otherwise.
DEFAULT_WIDTH = 1100
_INSTALL = (
    "install kaleido (pip install 'kaleido>=1,<2') and a Chrome-family browser "
    f"(Debian: apt-get install chromium), or set {BROWSER_ENV} to one"
)
# `BROWSER_PATH` is set around each kaleido call: one call at a time changes it.
_ENVIRONMENT_LOCK = threading.Lock()


def find_browser() -> str | None:
    """The browser kaleido will use: `$BROWSER_PATH` if it is executable, else one on `PATH`.

    Example:

    >>> find_browser()
    '/usr/bin/chromium'
    """
    named = os.environ.get(BROWSER_ENV)
    if named:
        return named if os.path.isfile(named) and os.access(named, os.X_OK) else None
    return next(filter(None, map(shutil.which, BROWSER_NAMES)), None)


def image_export_problem() -> str | None:
    """Why images cannot be exported here, in one line; `None` when they can.

    Example:

    >>> image_export_problem()  # on a machine without a browser
    "no Chrome-family browser found (tried $BROWSER_PATH, 'chromium', ...): install ..."
    """
    if importlib.util.find_spec("kaleido") is None:
        return f"plotly's image export needs kaleido, which is not installed: {_INSTALL}"
    if find_browser() is None:
        named = os.environ.get(BROWSER_ENV)
        tried = f"{BROWSER_ENV}={named!r}" if named else f"${BROWSER_ENV}, {quoted(BROWSER_NAMES)}"
        return f"no Chrome-family browser found (tried {tried}): {_INSTALL}"
    return None


def write_html(
    figure: Mapping[str, Any] | Any,
    path: str | os.PathLike,
    include_plotlyjs: bool | str = True,
) -> Path:
    """Writes a plotly figure (or figure dict) as a standalone HTML page, whole or not at all.

    plotly's own `write_html` writes it, with plotly.js embedded by default so that the page
    works offline; `include_plotlyjs="cdn"` links it instead. The file appears only once it is
    complete (`labkit._io.atomic_file`), so a reader never sees half a figure.

    Example:

    >>> write_html(FigureSpec().to_dict(history), "runs/live.html")
    PosixPath('runs/live.html')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as file:
        plotly.io.write_html(figure, file, include_plotlyjs=include_plotlyjs, validate=False)
    return path


def save_figure(
    figure: Mapping[str, Any] | Any,
    path: str | os.PathLike,
    width: int | None = None,
    height: int | None = None,
) -> Path:
    """Writes a plotly figure (or figure dict) to `path`, in the format its suffix names.

    `.html` writes a standalone page with plotly.js embedded (it works offline); the image
    formats go through kaleido (see the module docstring), `width` defaulting to 1100 px.

    Raises:
        ValueError: the suffix is not one of `FORMATS`.
        RuntimeError: an image was asked for and kaleido or a browser is missing (one line
            saying what to install), or the browser failed to draw it.

    Example:

    >>> save_figure(plot.figure(), "runs/live.svg")
    PosixPath('runs/live.svg')
    """
    return save_figures({path: figure}, width=width, height=height)[0]


def save_figures(
    figures: Mapping[str | os.PathLike, Mapping[str, Any] | Any],
    width: int | None = None,
    height: int | None = None,
) -> list[Path]:
    """Writes several figures, by path; the images in one browser session (it starts once).

    HTML files are written first, so they exist even when the images fail.

    Example:

    >>> save_figures({"report/curves.html": curves, "report/curves.png": curves})
    [PosixPath('report/curves.html'), PosixPath('report/curves.png')]
    """
    paths = {Path(path): figure for path, figure in figures.items()}
    for path in paths:
        _check_format(path)
    images = {}
    for path, figure in paths.items():
        if _format(path) == "html":
            write_html(figure, path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            images[path] = figure
    if images:
        _write_images(images, width, height)
    return list(paths)


def _format(path: Path) -> str:
    return path.suffix.lower().removeprefix(".")


def _check_format(path: Path) -> None:
    if _format(path) not in FORMATS:
        raise ValueError(
            f"A figure can be saved as {', '.join('.' + kind for kind in FORMATS)}. "
            f"Received: `path={str(path)!r}`"
        )


def _write_images(images: Mapping[Path, Any], width: int | None, height: int | None) -> None:
    names = ", ".join(path.name for path in images)
    problem = image_export_problem()
    if problem:
        raise RuntimeError(f"Cannot write {names}: {problem}.")
    figures = [_as_dict(figure) for figure in images.values()]
    widths = [width or figure["layout"].get("width") or DEFAULT_WIDTH for figure in figures]
    heights = [height or figure["layout"].get("height") for figure in figures]
    try:
        with _browser_path(find_browser()):
            plotly.io.write_images(
                figures, list(map(str, images)), width=widths, height=heights, validate=False
            )
    except Exception as error:  # kaleido and the browser fail in many ways: one line each
        message = " ".join(str(error).split()) or type(error).__name__
        raise RuntimeError(f"Cannot write {names}: the browser failed ({message}).") from error


def _as_dict(figure: Mapping[str, Any] | Any) -> dict:
    if hasattr(figure, "to_dict"):
        figure = figure.to_dict()
    return {"data": list(figure.get("data", [])), "layout": dict(figure.get("layout", {}))}


@contextlib.contextmanager
def _browser_path(browser: str | None) -> Iterator[None]:
    """Points kaleido at `browser` through `BROWSER_PATH` (kaleido's setting) for a while."""
    with _ENVIRONMENT_LOCK:
        before = os.environ.get(BROWSER_ENV)
        if browser:
            os.environ[BROWSER_ENV] = browser
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(BROWSER_ENV, None)
            else:
                os.environ[BROWSER_ENV] = before
