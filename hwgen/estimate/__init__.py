"""Resource, timing and power estimates with the open toolchain (Yosys, nextpnr)."""
