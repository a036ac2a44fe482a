import os
import shutil
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Verilator's C++ at -O0: a third less compile time per build, and the tests simulate few
# vectors (hwgen's own runs use -O3; see hwgen/toolchain.py).
os.environ.setdefault("HWGEN_VERILATOR_OPT", "-O0")
# The IR verifier (hwgen/ir/check.py) after every pass of every pipeline the tests run.
os.environ.setdefault("HWGEN_CHECK_IR", "1")
warnings.filterwarnings("ignore", category=UserWarning)

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models" / "hls4ml-example-models"


@pytest.fixture
def shared_models() -> Path:
    """The real hls4ml example models next to the project, or skip."""
    if not SHARED_MODELS.is_dir():
        pytest.skip("../shared/models is not present")
    return SHARED_MODELS


def pytest_configure(config):
    """Yosys's results (hwgen/estimate/yosys.py `shared_results`) and Verilator's simulators
    (hwgen/sim/build_cache.py) shared by every test of this run, in folders made for the
    run: a layer that several tests estimate is synthesized once, the same Verilog that
    several tests simulate is compiled once, and every run synthesizes and compiles afresh
    (the machine's caches in ~/.cache would leave a second run of the suite nothing to do).
    xdist's workers, started after this, inherit the variables."""
    if hasattr(config, "workerinput"):
        return
    import tempfile
    for variable, prefix in (("HWGEN_YOSYS_CACHE", "hwgen-test-yosys-"),
                             ("HWGEN_VERILATOR_CACHE", "hwgen-test-verilator-")):
        if os.environ.get(variable):
            continue
        folder = tempfile.mkdtemp(prefix=prefix)
        os.environ[variable] = folder
        config.add_cleanup(lambda f=folder: shutil.rmtree(f, ignore_errors=True))


def pytest_collection_finish(session):
    """make test runs module fixtures once per xdist group (--dist loadgroup); pytest 9.2
    silently dropped the groups (pytest-xdist#1386), so a lost group stops the run here."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    lost = [item.nodeid for item in session.items
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist ignored the xdist_group of {lost[0]} (and {len(lost) - 1} more): "
            "this pytest breaks --dist loadgroup; install the pytest pinned in pyproject.toml")


@pytest.fixture
def fold_every_layer(monkeypatch):
    """Fold every layer the reuse factor asks for, as small as it is: for tests of the
    lanes themselves, on graphs so small that their adder graphs cost fewer cells than a
    lane (`FoldLayers` would keep them at full rate, see hwgen/ir/fold_cost.py)."""
    from hwgen.passes.fold_layers import FoldLayers
    monkeypatch.setattr(FoldLayers, "_cheaper_at_full_rate", lambda *args: False)
