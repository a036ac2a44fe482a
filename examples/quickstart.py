"""Convert a zoo design, check it against QKeras and in Verilator, and estimate it: the
ten lines of the README, as a script (run by tests/test_docs.py)."""
import hwgen
from sklearn.datasets import load_digits

x = load_digits().data[:100] / 16.0            # the 8x8 digits, on the input grid
hw = hwgen.convert("digits_mlp_pruned", log=None)
y = hw.predict(x)                              # the bit-exact reference
assert (y == hw.keras_predict(x)).all()        # equals QKeras, code for code
print(hw.verify(x=x))                          # 100 vectors, 0 mismatches
sim = hw.cosim(x)                              # the Verilog in Verilator
assert sim.mismatches == 0 and (sim.outputs == y).all()
estimate = hw.estimate("ice40", power=False)
print(estimate)
print(estimate.layers)
