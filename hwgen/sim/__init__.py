"""Simulation support: golden input vectors (and, later, the cocotb bench and runner)."""
