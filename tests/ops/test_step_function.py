"""A step function's two hardware forms (ops/step_function.py): the multiplexer tree and
the binary search down it compute the same levels, in Verilator too."""
import numpy as np
import pytest

from hwgen.ops.step_function import _count, _Search, step_tree
from hwgen.passes import pipelines
from hwgen.sim.runner import cosim



def _walk(search: _Search, x: int) -> int:
    """The search's tables read as the hardware reads them: comparison k against the
    threshold its k - 1 comparisons so far select, the output by all of them."""
    path = 0
    for d in range(search.comparisons):
        path = 2 * path + int(x >= search.tables[d][path])
    return search.tables[-1][path]


@pytest.mark.parametrize("seed", range(40))
def test_the_search_tables_give_the_steps_levels(seed):
    """Uneven trees (a row whose levels repeat collapses subtrees into leaves, so paths
    end early), monotonic and not: every code in and around the range."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    th = np.sort(rng.choice(np.arange(-2000, 2000), n, replace=False))
    lv = np.arange(n + 1) // int(rng.integers(1, 5)) if seed % 2 else \
        rng.integers(-9, 9, n + 1)
    tree = step_tree(th, lv)
    if isinstance(tree, int):
        return
    search = _Search.of(tree)
    assert search.comparisons == tree.height and search.height == tree.height + 1
    assert len(search.tables[-1]) == 1 << tree.height
    for x in range(-2010, 2010, 7):
        assert _walk(search, x) == lv[np.searchsorted(th, x, side="right")], x


def _stepped_graph(seed: int):
    """Input -> dense -> a step function per channel with 1-60 thresholds inside the
    dense's range (repeated and non-monotonic levels too) -> dense."""
    from hwgen.ir.graph import Graph
    from hwgen.ir.types import FixedType
    from hwgen.ops import Input, StepFunction
    from ..hw_factory import _dense
    rng = np.random.default_rng([seed, 5])
    x = Input("input", "input", (6,), FixedType(True, 8, 3), origin="InputLayer")
    d1 = _dense(rng, "dense1", x, 5, 0.2)
    w = x.type.max_code * np.abs(d1.weights).sum(axis=0) + 1
    k = 60
    th = np.stack([np.sort(rng.choice(np.arange(-wc, wc + 1), k, replace=wc >= k))
                   for wc in w])
    for c, n in enumerate(rng.integers(1, k + 1, size=5)):    # fewer steps: padded above
        th[c, n:] = max(int(w.max()) * 64, 1 << 20)
    lv = np.sort(rng.integers(-60, 61, size=(5, k + 1)), axis=1)
    lv[::2] = rng.integers(-60, 61, size=lv[::2].shape)        # not monotonic
    t = FixedType(True, 7, 4)
    step = StepFunction("step", "step", d1.shape, t, (d1.name,), "QActivation",
                        thresholds=th.astype(np.int64), levels=lv.astype(np.int64),
                        function="random")
    d2 = _dense(rng, "dense2", step, 3, 0.0)
    return Graph([x, d1, step, d2], name=f"stepped{seed}")


# slow: xc7's clock and every second level repeat what the first two cover (a register
# after every level, both forms); tests/passes/test_schedule_by_delay.py checks xc7's.
@pytest.mark.parametrize("seed,target,every,form", [
    (0, "ecp5", None, "auto"), (2, "ecp5", 1, "search"),
    pytest.param(1, "xc7", None, "search", marks=pytest.mark.slow),
    pytest.param(3, "xc7", 2, "auto", marks=pytest.mark.slow)])
def test_searched_step_functions_match_the_reference_in_verilator(tmp_path, seed, target,
                                                                  every, form):
    """Step functions of 1-60 thresholds a channel, the longer ones searched ("search":
    every one, down to a single comparison), at the targets' clocks and with a register
    after every level or two."""
    from hwgen.backends.amaranth import emit
    g = _stepped_graph(seed)
    lowered = pipelines.hardware("csd", every, target=target, step_form=form).run(g)
    step = lowered.node("step")
    forms = step.element_forms(lowered.sources(step))
    trees = [f for f in forms if not isinstance(f, (_Search, int))]
    assert any(isinstance(f, _Search) for f in forms)
    assert not trees if form == "search" else all(_count(t) < 7 for t in trees)
    assert step.register_after
    b = emit.build(lowered, tmp_path, {"mult": "csd", "pipeline": every, "target": target})
    r = cosim(g, b.data, tmp_path / "rtl", tmp_path / "sim", 2000, seed, log=lambda s: None)
    assert r["outputs_seen"] == 2000 and r["mismatches"] == 0, r["first_mismatches"][:2]


def test_the_step_form_option_reaches_the_verilog(tmp_path):
    """`--step-form tree` builds the trees, the default searches the long ones, and the
    manifest says which was asked; a form hwgen does not know is refused by name."""
    import hwgen
    from hwgen.errors import HwgenError
    from ..model_factory import random_model
    model, fmt, _ = random_model(1)          # 255-threshold batch norm + quantized_relu
    texts = {}
    for form in ("auto", "tree"):
        hw = hwgen.convert(model, input_format=fmt, step_form=form, out=tmp_path / form,
                           log=None)
        build = hw.write()
        texts[form] = build.verilog.read_text()
        assert build.manifest["options"].get("step_form") == (
            None if form == "auto" else form)
    assert texts["auto"].count(">=") * 5 < texts["tree"].count(">=")
    with pytest.raises(HwgenError, match="step_form.*tree"):
        hwgen.convert(model, input_format=fmt, step_form="table")
