"""sweepq: a SQLite-backed job queue for LLM evaluation sweeps."""

__version__ = "0.1.0"
