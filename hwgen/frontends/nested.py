"""Open nested models: a Sequential or functional model used as a layer of another (a
backbone, a block built once as its own model) becomes its layers, in one flat model.

The front end reads one flat graph of layers (`qkeras.topology`) and rebuilds it as a
float64 twin from its config; a nested model's layers would keep their own dtype there,
and its config hides the layers behind one name. Keras has no call that flattens a model,
so the layers are called anew on the flat model's tensors, in each nested model's own
order: a copy of each layer (its config and weights: the same computation), the nested
model's inputs wired to what fed it and its outputs to what it fed. A layer name that two
nested models share gets the nested model's name in front.
"""
from __future__ import annotations


def open_nested(model, custom_objects):
    """`model` itself when no layer is a model, else the flat model that computes the
    same. `custom_objects()`: the classes deserialising a layer needs (QKeras's)."""
    import tensorflow as tf
    if not any(isinstance(layer, tf.keras.Model) for layer in model.layers):
        return model
    inputs = [tf.keras.Input(batch_shape=t.shape, dtype=t.dtype, name=name)
              for t, name in zip(model.inputs, model.input_names)]
    names: set[str] = {t.name.split(":")[0] for t in inputs}
    outputs = _outputs(model, inputs, names, "", custom_objects())
    return tf.keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0],
                          name=model.name)


def _outputs(model, inputs: list, names: set, prefix: str, objects: dict) -> list:
    """`model`'s outputs computed from `inputs` by copies of its layers (nested models
    opened the same way)."""
    import tensorflow as tf
    if isinstance(model, tf.keras.Sequential):
        x = inputs
        for layer in model.layers:
            x = _call(layer, x, names, prefix, objects)
        return x
    made = {id(t): new for t, new in zip(model.inputs, inputs)}
    for depth in sorted(model._nodes_by_depth, reverse=True):    # inputs first
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            if isinstance(layer, tf.keras.layers.InputLayer):
                continue
            outs = _call(layer, [made[id(t)] for t in tf.nest.flatten(node.input_tensors)],
                         names, prefix, objects)
            for t, new in zip(tf.nest.flatten(node.output_tensors), outs):
                made[id(t)] = new
    return [made[id(t)] for t in model.outputs]


def _call(layer, inputs: list, names: set, prefix: str, objects: dict) -> list:
    import tensorflow as tf
    if isinstance(layer, tf.keras.Model):
        return _outputs(layer, inputs, names, f"{prefix}{layer.name}_", objects)
    spec = tf.keras.layers.serialize(layer)
    name = spec["config"]["name"]
    if name in names:
        name = f"{prefix}{name}" if prefix and f"{prefix}{name}" not in names else \
            _unique(name, names)
    names.add(name)
    spec["config"]["name"] = name
    copy = tf.keras.layers.deserialize(spec, custom_objects=objects)
    out = copy(inputs[0] if len(inputs) == 1 else inputs)
    copy.set_weights(layer.get_weights())
    return tf.nest.flatten(out)


def _unique(name: str, names: set) -> str:
    k = 1
    while f"{name}_{k}" in names:
        k += 1
    return f"{name}_{k}"
