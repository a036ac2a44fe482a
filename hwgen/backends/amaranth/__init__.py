"""The Amaranth RTL back end: one component per lowered op (`layers.py`), the top with
valid/data ports (`top.py`), Verilog and manifest output (`emit.py`)."""
