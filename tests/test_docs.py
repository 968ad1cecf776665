"""The documentation site builds in strict mode, offline, and documents every public name.

One `mkdocs build --strict` per test session (about 20 s here): a warning, a broken link, a
docstring mkdocstrings cannot render or a page missing from the navigation fails it. Any network
access during the build fails too: the proxies point at a closed port.
"""

from __future__ import annotations

import doctest
import html
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import labkit

ROOT = Path(__file__).resolve().parents[1]
NO_NETWORK = "http://127.0.0.1:9"  # the discard port: nothing listens there


def _load_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site_dir = tmp_path_factory.mktemp("site")
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "NO_MKDOCS_2_WARNING": "1",  # Material's notice about MkDocs 2, printed on every build
        **{name: NO_NETWORK for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
        "NO_PROXY": "",
        "no_proxy": "",
    }
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "WARNING" not in build.stderr, build.stderr
    return site_dir


def _reference_headings(site: Path, module_name: str) -> list[str]:
    """The public names a built reference page documents: its top-level headings."""
    page = site / Path(hooks.page_path(module_name)).with_suffix("") / "index.html"
    return re.findall(r'<h2 id="[^"]+" class="doc doc-heading">\s*([^<\s]+)', page.read_text())


def test_every_public_name_of_labkit_has_a_reference_entry(site):
    documented = _reference_headings(site, "labkit")
    missing = [name for name in labkit.__all__ if f"labkit.{name}" not in documented]
    assert not missing, f"no reference entry for {missing}"


@pytest.mark.parametrize("module_name", hooks.REFERENCE_MODULES[1:])
def test_every_public_name_of_each_reference_module_has_an_entry(site, module_name):
    module = importlib.import_module(module_name)
    names = hooks.public_names(module)
    documented = _reference_headings(site, module_name)
    assert names
    assert [f"{module_name}.{name}" for name in names] == documented


def test_reference_entries_show_the_docstring_examples_as_code(site):
    page = (site / "reference" / "labkit" / "index.html").read_text()
    assert "labkit.build_convnet(weight_norm=True)" in html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "&gt;&gt;&gt;" not in re.sub(r"<code>.*?</code>", "", page, flags=re.S)


def test_every_notebook_is_rendered_and_its_source_offered(site):
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = site / "notebooks" / notebook.stem / "index.html"
        assert page.is_file(), f"{notebook.name} is not in the site"
        assert (page.parent / notebook.name).is_file()
        assert 'href="../README.md"' not in page.read_text()


def _guides() -> list[str]:
    """The first page of each guide in the site's navigation."""
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    guides = next(entry["Guides"] for entry in nav if "Guides" in entry)
    firsts = [next(iter(guide.values())) for guide in guides]
    return [page if isinstance(page, str) else next(iter(page[0].values())) for page in firsts]


def test_readme_fits_on_two_screens_and_links_every_guide():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    linked = re.findall(r"\]\(docs/([\w-]+\.md)\)", readme)
    assert all((ROOT / "docs" / page).is_file() for page in linked)
    assert set(_guides()) <= set(linked), sorted(set(_guides()) - set(linked))


def test_the_docstring_fences_of_the_griffe_extension():
    spec = importlib.util.spec_from_file_location(
        "griffe_doctests", ROOT / "docs" / "griffe_doctests.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert doctest.testmod(module).failed == 0
    assert module.fence_doctests("```\n>>> not a doctest\n```") == "```\n>>> not a doctest\n```"
