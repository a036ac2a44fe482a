"""The model zoo in `designs/`: each design is a folder with `model.h5` and `meta.json`."""
from __future__ import annotations

import json
from pathlib import Path

DESIGNS_DIR = Path(__file__).resolve().parent.parent / "designs"
DEFAULT_DESIGN = "jet_tagger"


def design_names() -> list[str]:
    if not DESIGNS_DIR.is_dir():
        return []
    return sorted(p.name for p in DESIGNS_DIR.iterdir() if (p / "meta.json").is_file())


def design_dir(name: str) -> Path | None:
    path = DESIGNS_DIR / name
    return path if (path / "meta.json").is_file() else None


def design_meta(name: str) -> dict:
    return json.loads((DESIGNS_DIR / name / "meta.json").read_text())
