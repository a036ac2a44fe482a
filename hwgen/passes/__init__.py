"""IR passes: one pass per file; `pipelines.py` lists them as objects."""
