"""Find and open a model: a Keras object, a designs/ name, a full-model .h5/.keras file, a
TensorFlow SavedModel folder written by Keras, or an hls4ml-style pair `name.json` +
`name_weights.h5`.

Every way a file can be missing or broken ends in a `ModelFileError` naming the file and
the fix. Nested models are opened into one flat model (`nested.py`) and pruning wrappers
(tensorflow-model-optimization) are stripped here.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import designs
from ..errors import ModelFileError, first_line
from .nested import open_nested

USAGE = ("give a design name from `hwgen list`, a full-model .h5 or .keras file, a "
         "SavedModel folder, or an architecture .json with its weights .h5 (next to it as "
         "NAME_weights.h5, or with --weights)")


@dataclass
class LoadedModel:
    """A Keras model (pruning wrappers stripped) and where it came from."""

    model: object
    name: str
    source: str
    meta: dict = field(default_factory=dict)


def custom_objects() -> dict:
    """QKeras layers and quantizers plus the pruning wrapper, for deserialisation."""
    from qkeras.utils import _add_supported_quantized_objects
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper
    objects: dict = {}
    _add_supported_quantized_objects(objects)
    objects["PruneLowMagnitude"] = pruning_wrapper.PruneLowMagnitude
    objects["QActivation"] = _readable_qactivation()
    return objects


@functools.cache
def _readable_qactivation():
    """QKeras's QActivation serialises a quantizer object as a dict that its own
    constructor cannot read back (models saved from Python fail to load); this subclass,
    under the same class name, turns the dict back into the quantizer."""
    from qkeras import QActivation as Base
    from qkeras.quantizers import get_quantizer

    class QActivation(Base):
        def __init__(self, activation, **kwargs):
            if isinstance(activation, dict):
                activation = get_quantizer({"class_name": activation["class_name"],
                                            "config": activation["config"]})
            super().__init__(activation, **kwargs)
    return QActivation


def load(source, weights: str | None = None) -> LoadedModel:
    """Open `source` (see module doc) and return it with pruning wrappers stripped."""
    if not isinstance(source, (str, Path)):
        if not hasattr(source, "layers"):
            raise ModelFileError(f"cannot use a {type(source).__name__} as a model: {USAGE}")
        return LoadedModel(_opened(source), getattr(source, "name", "model"), "<object>")
    text = str(source)
    path = Path(text)
    design = designs.design_dir(text) if "/" not in text and not path.suffix else None
    if design is not None:
        model = _load_full(design / "model.h5")
        return LoadedModel(model, text, f"designs/{text}", designs.design_meta(text))
    if not path.exists():
        known = ", ".join(designs.design_names()) or "none"
        raise ModelFileError(f"model '{text}' not found: no such file and no such design "
                             f"(designs: {known}); {USAGE}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return LoadedModel(_load_json(path, weights), _stem(path), str(path))
    if suffix in (".h5", ".hdf5", ".keras") or path.is_dir():
        if weights:
            raise ModelFileError(f"--weights is only used with an architecture .json, "
                                 f"but '{path}' is a full model "
                                 f"{'folder' if path.is_dir() else 'file'}")
        return LoadedModel(_load_full(path), path.name if path.is_dir() else _stem(path),
                           str(path))
    raise ModelFileError(f"cannot read '{path}': unknown file type '{path.suffix}'; {USAGE}")


def _stem(path: Path) -> str:
    stem = path.stem
    return stem[:-len("_weights")] if stem.endswith("_weights") else stem


def _load_full(path: Path):
    """A full model: a .h5/.hdf5 or .keras file, or a SavedModel folder."""
    import tensorflow as tf
    if path.is_dir():
        _check_saved_model(path)
    elif path.suffix.lower() != ".keras":
        _check_hdf5(path, need_model=True)
    else:
        _check_keras_archive(path)
    try:
        model = tf.keras.models.load_model(str(path), custom_objects=custom_objects(),
                                           compile=False)
    except Exception as exc:  # Keras raises many types for broken files
        raise ModelFileError(f"cannot load the model in '{path}': {first_line(exc)}. "
                             f"Is it a Keras model saved with model.save()?") from None
    if not hasattr(model, "layers"):
        raise ModelFileError(f"'{path}' holds a TensorFlow function, not a Keras model; "
                             "save the Keras model itself, as model.save('model.h5')")
    return _opened(model)


def _check_saved_model(path: Path) -> None:
    """A TensorFlow SavedModel folder (what `model.save('folder')` writes in TF 2.15 when
    the name has no extension) that Keras can read back: its `keras_metadata.pb`."""
    if not (path / "saved_model.pb").is_file():
        raise ModelFileError(f"cannot read the folder '{path}': it is not a SavedModel (no "
                             f"saved_model.pb in it); {USAGE}")
    if not (path / "keras_metadata.pb").is_file():
        raise ModelFileError(f"'{path}' is a SavedModel without Keras's layers "
                             "(keras_metadata.pb): it was not written by a Keras model's "
                             "model.save(). Save the Keras model itself, as model.save("
                             "'model.h5')")


def _check_keras_archive(path: Path) -> None:
    """A .keras file is a zip archive whose metadata.json names the Keras version that
    wrote it; Keras 3 archives use a layout TF 2.15's Keras 2 cannot read."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("metadata.json")) if "metadata.json" in z.namelist() \
                else {}
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"cannot read '{path}' as a .keras archive ({first_line(exc)}): "
                             "the file is damaged or not a Keras model; save it again with "
                             "model.save()") from None
    version = str(meta.get("keras_version", ""))
    if version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 3:
        raise ModelFileError(
            f"'{path}' was saved by Keras {version} (Keras 3), whose .keras format "
            "TensorFlow 2.15's Keras 2 (the one QKeras and hls4ml 1.3 use, and hwgen with "
            "them) cannot read. Re-save it from Keras 3 in the H5 format, "
            "model.save('model.h5'), or as model.to_json() plus "
            "model.save_weights('model_weights.h5'), and give hwgen that file")


def _load_json(path: Path, weights: str | None):
    import tensorflow as tf
    try:
        arch = path.read_text()
        parsed = json.loads(arch)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"cannot read the architecture JSON '{path}': {first_line(exc)}; "
                             f"it must be the output of model.to_json()") from None
    if isinstance(parsed, dict) and parsed.get("class_name") == "Sequential" and \
            isinstance(parsed.get("config"), list):
        # Keras 2.0 wrote a Sequential model's config as the bare list of its layers (as
        # in hls4ml's example models); today's Keras reads {"name", "layers"}.
        parsed["config"] = {"name": "sequential", "layers": parsed["config"]}
        arch = json.dumps(parsed)
    if not isinstance(parsed, dict) or "class_name" not in parsed or \
            not isinstance(parsed.get("config"), dict):
        keys = ", ".join(list(parsed)[:5]) if isinstance(parsed, dict) else type(parsed).__name__
        raise ModelFileError(f"'{path}' is JSON but not a Keras model architecture (it "
                             f"needs 'class_name' and a 'config' object at the top; found: "
                             f"{keys}); give the output of model.to_json()")
    wpath = Path(weights) if weights else path.with_name(path.stem + "_weights.h5")
    if not wpath.exists():
        raise ModelFileError(f"weights file '{wpath}' not found for architecture '{path}': "
                             f"put it next to the JSON as {path.stem}_weights.h5 or pass "
                             f"--weights FILE")
    _check_hdf5(wpath, need_model=False)
    try:
        model = tf.keras.models.model_from_json(arch, custom_objects=custom_objects())
    except Exception as exc:
        raise ModelFileError(f"cannot build the model described in '{path}': "
                             f"{first_line(exc)}") from None
    try:
        model.load_weights(str(wpath))
    except Exception as exc:
        raise ModelFileError(f"the weights in '{wpath}' do not fit the architecture in "
                             f"'{path}': {first_line(exc)}. Use the weights saved with "
                             f"this architecture") from None
    return _opened(model)


def _check_hdf5(path: Path, need_model: bool) -> None:
    import h5py
    try:
        with h5py.File(str(path), "r") as f:
            has_model = "model_config" in f.attrs
    except OSError as exc:
        raise ModelFileError(f"cannot read '{path}' as HDF5 ({first_line(exc)}): the file is "
                             f"damaged or not an HDF5 file; save it again with Keras") from None
    if need_model and not has_model:
        raise ModelFileError(f"'{path}' holds only weights, no architecture: give the "
                             f"architecture .json instead, with --weights {path}")


def _opened(model):
    """A loaded model as the front end reads it: nested models opened, pruning wrappers
    stripped."""
    return strip_pruning(open_nested(model, custom_objects))


def strip_pruning(model):
    """The model without tensorflow-model-optimization's pruning wrappers (zeros stay)."""
    if not any(type(layer).__name__ == "PruneLowMagnitude" for layer in model.layers):
        return model
    import tensorflow_model_optimization as tfmot
    return tfmot.sparsity.keras.strip_pruning(model)
