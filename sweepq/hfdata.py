"""Loading a data set through `datasets`, with its failures as one line that says what to do.

Shared by the benchmark loaders (`mmlu_pro`, `humaneval`; `bbh` has its own copy of the
hub half until the planned renovation folds it in here). `datasets` is imported inside
the functions, so a command that only scores never pays for it.
"""

from __future__ import annotations

from typing import Any

from sweepq.errors import SweepqError


def hub(name: str, split: str, local: str, config: str | None = None) -> Any:
    """`name` from the Hugging Face hub; offline or missing becomes a `SweepqError`.

    `local` says what a local copy passed as `dataset` PATH would be."""
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(name, config, split=split)
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as e:
        # offline, HTTP errors and DatasetNotFoundError are OSErrors; ValueError: no split
        raise SweepqError(
            f"cannot load {name} ({split}) from the Hugging Face hub ({type(e).__name__}); "
            f"pass `dataset` PATH ({local}) or go online"
        ) from None


def files(builder: str, paths: list[str], what: str) -> Any:
    """Local files through one of `datasets`' builders (`parquet`, `json`), as one split.

    `what` names the expected format in the error of a file that does not parse."""
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(builder, data_files=paths, split="train")
    except Exception as e:  # datasets wraps parse and schema errors in many types
        raise SweepqError(
            f"cannot read {paths[0]} as {builder} ({type(e).__name__}); it must be {what}"
        ) from None
