"""Back ends: hardware and projects generated from the lowered IR."""
