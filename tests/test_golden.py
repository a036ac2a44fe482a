"""The zoo's golden records: the same designs and options give the same Verilog, manifest
and IR as recorded in designs/<name>/golden.json (`make golden` rewrites them)."""
import pytest

from hwgen import golden
from hwgen.designs import design_names


def test_every_design_and_variant_has_a_record():
    assert design_names()
    for name in design_names():
        assert set(golden.read(name)) == set(golden.VARIANTS), \
            f"{name}: run `make golden` to record it"


@pytest.mark.parametrize("name", design_names())
def test_design_builds_as_recorded(name):
    kept = golden.read(name)
    now = golden.record(name)
    for variant in golden.VARIANTS:
        differs = sorted(k for k in now[variant] if kept[variant].get(k) != now[variant][k])
        assert not differs, (f"{name} {variant}: {', '.join(differs)} changed; run "
                             "`make golden` if the change is meant, and say why in the commit")
