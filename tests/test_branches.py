"""Functional models with branches: every Keras merge layer, skip connections (of the
quantized input too) and two heads are exact against QKeras and in Verilator, fully
parallel and folded; the paths of a branch meet in the same cycle; bad branches get a
clear error."""
import json

import numpy as np
import pytest

from hwgen.errors import UnsupportedError
from hwgen.flow import build_rtl, layer_rows
from hwgen.frontends.loader import load
from hwgen.frontends.qkeras import to_ir
from hwgen.options import FrontendOptions, HardwareOptions
from hwgen.sim.runner import cosim
from hwgen.sim.vectors import input_codes
from hwgen.verify import untouched_mismatches, verify_model

from .model_factory import MERGES, random_branchy_model

N_MODELS = 21      # every merge layer three times over (MERGES cycles with the seed)


def _compile(seed):
    model, fmt, desc = random_branchy_model(seed)
    loaded = load(model)
    return loaded, to_ir(loaded, FrontendOptions.from_strings(fmt)), desc


@pytest.mark.parametrize("seed", range(N_MODELS))
def test_random_branchy_model_is_bit_exact(seed):
    loaded, graph, desc = _compile(seed)
    result = verify_model(loaded, graph, n=300, seed=seed)
    assert result.mismatches == 0, f"{desc}\n{result.details()}"
    codes = input_codes(graph.input.type, graph.input.shape, 300, seed, None)
    bad = untouched_mismatches(loaded, graph, codes)     # None: float32 not exact here
    assert not bad, f"{desc}: the untouched model differs on vectors {bad[:5]}"


@pytest.mark.slow     # a check of the factory (it builds every model), not of hwgen
def test_the_factory_uses_every_merge_and_branch_form():
    text = " ".join(random_branchy_model(seed)[2] for seed in range(N_MODELS))
    for form in MERGES + ["Average of 4", "two heads", "input quantizer", "softmax",
                          "quantizer after it"]:
        assert form in text, form


COSIM = [  # seed, reuse (slow: test_edge_cases_of_branches covers a third folded case)
    (0, 1), (6, 4), pytest.param(4, 4, marks=pytest.mark.slow),
    pytest.param(1, 1, marks=pytest.mark.slow), pytest.param(7, 4, marks=pytest.mark.slow),
    pytest.param(11, 2, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("seed,reuse", COSIM)
@pytest.mark.usefixtures("fold_every_layer")   # the lanes are under test
def test_random_branchy_model_cosimulates_bit_exact(tmp_path, seed, reuse):
    """Every output bit of every head, fully parallel and folded (a merge reading folded
    layers' outputs, delay lines at II > 1)."""
    _, graph, desc = _compile(seed)
    lowered, rtl = build_rtl(graph, tmp_path, HardwareOptions("csd", 2, reuse))
    assert (rtl.data["ii"] > 1) == (reuse > 1)
    r = cosim(graph, rtl.data, tmp_path / "rtl", tmp_path / "sim", 2000, seed,
              log=lambda s: None)
    assert r["outputs_seen"] == 2000 and r["mismatches"] == 0, (desc, r["first_mismatches"][:2])


def _with_random_weights(model, seed: int):
    """`model` with seeded N(0, 0.5) weights (the quantizers then round them)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def _skip_model():
    """x -> q -> (dense a -> relu quantizer -> dense b) + q -> two heads (sum, a)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from .model_factory import quantizer
    inp = tf.keras.Input((4,), name="x")
    q = QActivation(quantizer("quantized_bits(6,2)"), name="q")(inp)
    a = QDense(4, kernel_quantizer=quantizer("quantized_bits(4,0)"), use_bias=False,
               name="a")(q)
    ar = QActivation(quantizer("quantized_relu(6,2)"), name="ar")(a)
    b = QDense(4, kernel_quantizer=quantizer("quantized_bits(4,0)"), use_bias=False,
               name="b")(ar)
    s = tf.keras.layers.Add(name="skip")([b, q])
    head = QDense(2, kernel_quantizer=quantizer("quantized_bits(4,0)"), use_bias=False,
                  name="head")(ar)
    model = tf.keras.Model(inp, [s, head], name="skip")
    return _with_random_weights(model, 3)


def test_paths_of_a_branch_meet_in_the_same_cycle(tmp_path):
    loaded = load(_skip_model())
    graph = to_ir(loaded)
    assert graph.output_names == ("skip", "head")
    assert graph.node("skip").inputs == ("b", "q")
    lowered, rtl = build_rtl(graph, tmp_path, HardwareOptions("csd", 1))
    m = json.loads(rtl.manifest.read_text())
    rows = {r["node"]: r for r in m["layers"]}
    # One register per level: q waits for a, ar and b (their register stages) before the
    # add; the head is one adder level shorter than the add, so it waits for it.
    path = sum(rows[n]["register_stages"] for n in ("a", "ar", "b"))
    assert rows["q"]["delay_stages"] == path
    assert rows["head"]["delay_stages"] == \
        rows["b"]["register_stages"] + rows["skip"]["register_stages"] - \
        rows["head"]["register_stages"]
    assert m["delay_registers"] > 0
    assert m["latency"] == 2 + rows["q"]["register_stages"] + path + \
        rows["skip"]["register_stages"]
    heads = m["output"]["heads"]
    assert [h["node"] for h in heads] == ["skip", "head"]
    assert heads[1]["first_element"] == 4 and heads[1]["lsb"] == heads[0]["width"]
    assert [row["layer"] for row in layer_rows(lowered, m)][-1] == "head"
    r = cosim(graph, rtl.data, tmp_path / "rtl", tmp_path / "sim", 1000, 0, mode="stream",
              log=lambda s: None)
    assert r["mismatches"] == 0, r["first_mismatches"][:2]


def _edge_model():
    """A raw-input skip, one tensor read twice by a merge, an output that later layers
    read too, a Concatenate of rank-2 tensors on their second axis, two heads."""
    import tensorflow as tf
    from qkeras import QActivation, QDense

    from .model_factory import quantizer
    L = tf.keras.layers
    q = dict(kernel_quantizer=quantizer("quantized_bits(5,0,alpha=1)"),
             bias_quantizer=quantizer("quantized_bits(5,0,alpha=1)"))
    x = tf.keras.Input((4,), name="x")
    d1 = QActivation(quantizer("quantized_relu(5,2)"), name="a1")(QDense(4, name="d1", **q)(x))
    raw = L.Add(name="rawskip")([d1, x])
    twice = L.Add(name="twice")([d1, d1])
    mid = QDense(4, name="mid", **q)(twice)
    cat = L.Concatenate(axis=1, name="cat")([L.Reshape((2, 2), name="r1")(raw),
                                              L.Reshape((2, 2), name="r2")(mid)])
    flat = QActivation(quantizer("quantized_bits(8,3)"), name="qf")(L.Flatten(name="f")(cat))
    model = tf.keras.Model(x, [QDense(3, name="out", **q)(flat), mid], name="edges")
    return _with_random_weights(model, 5)


def test_edge_cases_of_branches(tmp_path):
    loaded = load(_edge_model())
    graph = to_ir(loaded, FrontendOptions.from_strings("fixed<8,3>"))
    assert graph.node("twice").inputs == ("a1", "a1") and graph.output_names == ("out", "mid")
    assert graph.consumers("mid")                  # an output other layers read
    assert verify_model(loaded, graph, n=1000, seed=1).mismatches == 0
    _, rtl = build_rtl(graph, tmp_path, HardwareOptions("csd", 2, 3))
    assert rtl.data["ii"] > 1 and rtl.data["delay_registers"] > 0
    r = cosim(graph, rtl.data, tmp_path / "rtl", tmp_path / "sim", 1500, 1, log=lambda s: None)
    assert r["mismatches"] == 0, r["first_mismatches"][:2]


def _functional(build):
    import tensorflow as tf
    inp = tf.keras.Input((4,), name="x")
    return tf.keras.Model(inp, build(inp, tf.keras.layers))


@pytest.mark.parametrize("build,match", [
    (lambda x, L: L.Add(name="join")([L.Dense(1, name="a")(x), L.Dense(3, name="b")(x)]),
     r"layer .join.: Add of shapes \(1,\), \(3,\).*no broadcasting"),
    (lambda x, L: L.Average(name="avg")([L.Dense(2, name=f"d{k}")(x) for k in range(3)]),
     r"layer 'avg': Average of 3 tensors divides by 3.*Average 2, 4, 8"),
    (lambda x, L: L.Dense(2, name="a")(x) + L.Dense(2, name="b")(x),
     r"TFOpLambda layers are not supported.*use the Keras merge layers"),
    (lambda x, L: L.Concatenate(axis=0, name="cat")([x, x]),
     r"layer 'cat': Concatenate on axis 0 joins along the batch"),
])
def test_bad_branches_get_a_clear_error(build, match):
    with pytest.raises(UnsupportedError, match=match):
        to_ir(load(_functional(build)), FrontendOptions.from_strings("fixed<8,3>",
                                                                     ["fixed<8,3>"]))


def test_a_shared_layer_and_two_inputs_get_a_clear_error():
    import tensorflow as tf
    L = tf.keras.layers
    inp = tf.keras.Input((4,), name="x")
    shared = L.Dense(4, name="shared")
    model = tf.keras.Model(inp, L.Add(name="s")([shared(inp), shared(shared(inp))]))
    with pytest.raises(UnsupportedError, match=r"layer 'shared'.*called 3 times"):
        to_ir(load(model), FrontendOptions.from_strings("fixed<8,3>", ["fixed<8,3>"]))
    a, b = tf.keras.Input((2,), name="a"), tf.keras.Input((2,), name="b")
    two = tf.keras.Model([a, b], L.Add()([a, b]), name="two")
    with pytest.raises(UnsupportedError, match="2 inputs; hwgen supports single-input"):
        to_ir(load(two), FrontendOptions.from_strings("fixed<8,3>"))


def test_the_residual_design_cosimulates_folded(tmp_path, capsys):
    """designs/digits_resmlp (a skip connection around a dense block) at --reuse 4; its
    fully parallel co-simulation is with the other large zoo designs (slow)."""
    from hwgen.cli import main
    assert main(["sim", "digits_resmlp", "--reuse", "4", "-o", str(tmp_path),
                 "--n", "2000"]) == 0
    assert "2000 vectors, 0 mismatches" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["ii"] > 1 and manifest["delay_registers"] > 0
    assert any(r["op"] == "add" for r in manifest["layers"])
