"""The Amaranth RTL back end: the top with valid/data ports (`top.py`), which instantiates
each lowered op's own component (`hwgen/ops/`, framed by `ops/component.py`), and Verilog
and manifest output (`emit.py`)."""
