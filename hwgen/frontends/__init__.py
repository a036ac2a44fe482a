"""Front ends: read a model and lower it to the IR. TensorFlow is imported lazily."""
