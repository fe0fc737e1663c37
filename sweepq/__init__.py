"""sweepq: a SQLite-backed job queue for LLM evaluation sweeps."""

__version__ = "0.1.0"


def open(path: str = "sweepq.db"):  # noqa: A001 - `sweepq.open` is the entry point by design
    """The database at `path` as a `sweepq.api.Database`: enqueue, work, status, summary,
    export, sweeps, results_df and calls_df, as the commands do. Nothing is imported until
    this is called, so `import sweepq` stays cheap.

        import sweepq
        s = sweepq.open("sweepq.db")
        s.results_df("pilot").groupby("arm").passed.mean()
    """
    from .api import Database

    return Database(path)


__all__ = ["__version__", "open"]
