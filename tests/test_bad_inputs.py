"""Bad input, through the `hwgen` command: one `hwgen: error:` line that names the file,
layer or option and the fix, exit status 2, no traceback, no user file changed.

One case per class of the reliability probe: silently wrong options, output folders,
tool failures, wide datapaths, damaged files, busy folders.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hwgen import cli


def _q(text):
    from .model_factory import quantizer
    return quantizer(text)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """Small model files: a quantized one, a float one, one with a NaN weight, one whose
    sums need 66 bits with a 60-bit input grid."""
    import tensorflow as tf
    from qkeras import QActivation, QDense
    d = tmp_path_factory.mktemp("models")
    tf.random.set_seed(3)
    small = tf.keras.Sequential([
        tf.keras.layers.InputLayer((4,)),
        QDense(3, kernel_quantizer=_q("quantized_bits(6,0,alpha=1)"),
               bias_quantizer=_q("quantized_bits(6,0,alpha=1)"), name="fc"),
        QActivation("quantized_relu(4,1)", name="act")], name="small")
    small.save(d / "small.h5")
    weights = small.get_weights()
    weights[0][1, 2] = np.nan
    small.set_weights(weights)
    small.save(d / "nan.h5")
    flt = tf.keras.Sequential([tf.keras.layers.InputLayer((4,)),
                               tf.keras.layers.Dense(3, name="d1"),
                               tf.keras.layers.Dense(2, name="d2")], name="flt")
    flt.save(d / "float.h5")
    wide = tf.keras.Sequential([
        tf.keras.layers.InputLayer((3,)),
        QDense(2, kernel_quantizer=_q("quantized_bits(16,0,alpha=1)"),
               bias_quantizer=_q("quantized_bits(16,0,alpha=1)"), name="fc_wide")],
        name="wide")
    wide.save(d / "wide.h5")
    return {p.stem: p for p in d.glob("*.h5")}


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_bad(argv, capsys, *contains: str) -> str:
    """Run `hwgen argv`: exit status 2, exactly one error line containing every
    `contains` text, no traceback. The error line."""
    code = None
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:          # argparse's errors exit
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("hwgen: error: "), err
    assert "Traceback" not in out + err and "Warning" not in err, err
    for text in contains:
        assert text in lines[0], (text, lines[0])
    return lines[0]


# ------------------------------------------------------------- silently wrong before

def test_unknown_layer_in_precision_is_refused(models, capsys):
    run_bad(["inspect", models["float"], "--precision", "fixed<8,3>",
             "--precision", "d3=fixed<12,4>"], capsys,
            "precision: the model has no layer named 'd3'",
            "its layers are: d1, d2")


def test_precision_with_an_empty_layer_name(models, capsys):
    run_bad(["inspect", models["float"], "--precision", "=fixed<8,3>"], capsys,
            "has no layer name before '='")


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "fast"])
def test_clock_must_be_positive(models, capsys, value):
    run_bad(["estimate", models["small"], "--clock", value], capsys, "argument --clock")


@pytest.mark.parametrize("argv,text", [
    (["verify-model", "M", "--n", "0"], "argument --n: must be at least 1 and at most"),
    (["sim", "M", "--n", "1e9"], "argument --n: a whole number is needed"),
    (["sim", "M", "--n", "100000000"], "at most 10000000"),
    (["export", "M", "--board", "icebreaker", "--vectors", "5000"], "at most 4096"),
    (["sim", "M", "--seed", "-1"], "argument --seed: must be at least 0"),
    (["build", "M", "--pipeline", "-2"], "argument --pipeline: must be at least 0"),
    (["export", "M", "--board", "icebreaker", "--vectors", "0"], "argument --vectors"),
    (["export", "M", "--board", "icebreaker", "--baud", "-9600"], "argument --baud"),
    (["export", "M", "--asic", "--clock-ns", "0"], "argument --clock-ns: must be above 0"),
    (["hls", "M", "--reuse", "0"], "argument --reuse: must be at least 1"),
    (["build", "M", "--mult", "lut"], "argument --mult: invalid choice: 'lut'"),
])
def test_numbers_and_choices_are_checked_where_parsed(models, capsys, argv, text):
    argv = [models["small"] if a == "M" else a for a in argv]
    run_bad(argv, capsys, text)


def test_input_format_is_called_by_its_name(models, capsys):
    run_bad(["inspect", models["float"], "--precision", "fixed<8,3>", "--input-format",
             "fixed<8"], capsys, "cannot read --input-format 'fixed<8'")


def test_input_grid_wider_than_62_bits_is_refused(models, capsys, tmp_path):
    run_bad(["build", models["small"], "--input-format", "fixed<70,20>", "-o", tmp_path / "o"],
            capsys, "the input grid fixed<70,20>", "at most 62 bits")


# ------------------------------------------------------------- output folders

def test_output_naming_a_file_is_refused(models, capsys, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    run_bad(["build", models["small"], "-o", target], capsys,
            f"-o/--out {target}", "is a file, not a folder")
    assert target.read_text() == "mine"
    run_bad(["build", models["small"], "-o", target / "sub"], capsys, "is a file")


def test_output_folder_that_cannot_be_written(models, capsys, tmp_path):
    if os.geteuid() == 0:              # root writes anywhere but in /sys
        target = Path("/sys/hwgen-out")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "out"
    run_bad(["build", models["small"], "-o", target], capsys, "cannot write there",
            "choose a folder you can write to")


def test_busy_build_folder_is_refused(models, capsys, tmp_path):
    from hwgen.outputs import LOCK_NAME
    out = tmp_path / "busy"
    out.mkdir()
    with open(out / LOCK_NAME, "w") as held:      # another run holds the folder
        fcntl.flock(held, fcntl.LOCK_EX)
        run_bad(["build", models["small"], "-o", out], capsys,
                f"the build folder {out} is busy", "-o DIR")
    assert cli.main(["build", str(models["small"]), "-o", str(out)]) == 0
    assert (out / "manifest.json").is_file()


# ------------------------------------------------------------- damaged files

def test_nan_weight_names_the_layer_without_numpy_warnings(models, capsys):
    run_bad(["inspect", models["nan"]], capsys,
            "layer 'fc': 1 of its 12 kernel values are NaN or infinite", "retrain")


def test_json_that_is_not_a_keras_model(capsys, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"learning_rate": 0.1, "epochs": 3}))
    (tmp_path / "settings_weights.h5").write_bytes(b"")
    run_bad(["inspect", path], capsys, "is JSON but not a Keras model architecture",
            "learning_rate", "model.to_json()")


def test_keras3_archive_says_how_to_resave(capsys, tmp_path):
    path = tmp_path / "k3.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {}}))
        z.writestr("model.weights.h5", b"")
    run_bad(["inspect", path], capsys, "saved by Keras 3.6.0 (Keras 3)",
            "model.save('model.h5')")


def test_keras_file_that_is_not_an_archive(capsys, tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip at all")
    run_bad(["inspect", path], capsys, "cannot read", "as a .keras archive")


@pytest.mark.parametrize("content,text", [
    ("{ not json", "is not valid JSON"),
    (json.dumps({"schema": "hwgen-report/1"}), "does not follow"),
])
def test_damaged_report_says_to_rerun_flow(capsys, tmp_path, content, text):
    (tmp_path / "report.json").write_text(content)
    run_bad(["report", tmp_path], capsys, text, "run `hwgen flow`")
    assert (tmp_path / "report.json").read_text() == content


# ------------------------------------------------------------- wide datapaths

def test_verify_refuses_sums_float64_cannot_hold(models, capsys):
    run_bad(["verify-model", models["wide"], "--input-format", "fixed<50,25>", "--n", "5"],
            capsys, "layer 'fc_wide': its sums need up to", "exact only up to 53 bits")
    run_bad(["verify-model", models["wide"], "--input-format", "fixed<60,30>", "--n", "5"],
            capsys, "its values need up to 60 bits")


def test_outputs_wider_than_64_bits_cosimulate(models, tmp_path):
    """A 60-bit input grid times 16-bit weights: 76-bit outputs, compared bit by bit."""
    out = tmp_path / "wide"
    assert cli.main(["sim", str(models["wide"]), "--input-format", "fixed<60,30>", "--n",
                     "200", "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert min(e["width"] for e in manifest["output"]["elements"]) > 64
    result = json.loads((out / "sim" / "results.json").read_text())
    assert result["vectors"] == 200 and result["mismatches"] == 0


# ------------------------------------------------------------- tool failures

def test_verilator_syntax_error_is_quoted_with_file_and_line(models, capsys, tmp_path):
    out = tmp_path / "broken"
    assert cli.main(["build", str(models["small"]), "-o", str(out)]) == 0
    capsys.readouterr()
    verilog = next((out / "rtl").glob("*.v"))
    text = verilog.read_text()
    verilog.write_text(text.replace("endmodule", "endmodul oops", 1))
    before = _digest(out / "rtl")
    msg = run_bad(["sim", models["small"], "--rtl-dir", out / "rtl", "--n", "10"], capsys,
                  "Verilator failed", "syntax error", "full log: ")
    assert re.search(re.escape(verilog.name) + r":\d+:\d+: syntax error", msg), msg
    assert msg.rstrip(")").endswith("build.log")
    assert _digest(out / "rtl") == before


def test_export_never_deletes_a_build_folder_it_did_not_write(models, capsys, tmp_path):
    """`-o .` inside a user's project: their own build/ stays as it is."""
    mine = tmp_path / "build" / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("keep me")
    run_bad(["export", models["small"], "--board", "arty-a7-35", "--top", "uart", "-o",
             tmp_path], capsys, "was not written by `hwgen export`", "give -o a new")
    assert mine.read_text() == "keep me"
