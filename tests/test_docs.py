"""The documentation's examples run: every `python` block of the README and of docs/*.md
(a page's blocks in order, in one namespace, in a fresh folder) and every script in
examples/. A block meant only to be read is marked `text`."""
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

pytestmark = pytest.mark.xdist_group("docs")


def _blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_blocks_of_the_docs_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for k, code in enumerate(_blocks(page)):
        exec(compile(code, f"{page.name}, python block {k + 1}", "exec"), namespace)


# slow: quickstart.py is the README's block (run by default above) plus a table print
@pytest.mark.parametrize("script", [
    pytest.param(p, marks=pytest.mark.slow) if p.name == "quickstart.py" else p
    for p in EXAMPLES], ids=lambda p: p.name)
def test_examples_run(script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")


def test_every_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme, page.name
    assert EXAMPLES and "examples/" in readme


def test_relative_links_of_the_docs_resolve():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name}: {target}"
