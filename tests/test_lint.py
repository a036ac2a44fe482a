"""pyflakes finds nothing in hwgen, its tests, scripts and benches: no undefined names, no
unused imports or variables (re-exports are listed in the package's `__all__`)."""
from pathlib import Path

from pyflakes.api import checkPath
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parents[1]


class _Collect:
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.append(text)


def test_pyflakes_reports_nothing():
    out = _Collect()
    reporter = Reporter(out, out)
    files = sorted(p for d in ("hwgen", "tests", "scripts", "sim") if (ROOT / d).is_dir()
                   for p in (ROOT / d).rglob("*.py"))
    assert len(files) > 50
    for path in files:
        checkPath(str(path), reporter)
    assert "".join(out.lines) == ""
