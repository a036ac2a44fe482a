"""The zoo's golden records: the same designs and options give the same Verilog, manifest
and IR as recorded in designs/<name>/golden.json (`make golden` rewrites them)."""
import pytest

from hwgen import golden
from hwgen.designs import design_names

# The default selection checks every variant of the smallest design and the folded form of
# every design (seconds each); the fully parallel jet tagger and digits MLP take 10-27 s
# each to generate and run with the slow cases (`python -m hwgen.golden` checks them all).
# The streaming form of the CNNs takes seconds too.
FAST = {("digits_mlp_pruned", v) for v in golden.VARIANTS} | \
    {(d, "csd-reuse4") for d in design_names()} | \
    {(d, "csd-stream") for d in design_names()}
# A variant that does not apply (the streaming form of an MLP) has no record.
STREAMING = {"digits_cnn", "waveform_cnn1d"}


def test_every_design_and_variant_has_a_record():
    assert design_names()
    for name in design_names():
        assert set(golden.read(name)) == set(golden.variants_of(name)), \
            f"{name}: run `make golden` to record it"
    assert {n for n in design_names() if "csd-stream" in golden.variants_of(n)} == STREAMING


@pytest.mark.parametrize("name,variant", [
    pytest.param(d, v, marks=() if (d, v) in FAST else pytest.mark.slow)
    for d in design_names() for v in golden.VARIANTS
    if golden.VARIANTS[v].io != "stream" or d in STREAMING])
def test_design_builds_as_recorded(name, variant):
    kept = golden.read(name)[variant]
    now = golden.record(name, (variant,))[variant]
    differs = sorted(k for k in now if kept.get(k) != now[k])
    assert not differs, (f"{name} {variant}: {', '.join(differs)} changed; run "
                         "`make golden` if the change is meant, and say why in the commit")
