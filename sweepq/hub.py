"""The Hugging Face copy of a data set: is it cached, can the hub be reached, and a quiet load.

Why: `datasets` asked for a data set it does not have and no network retries for about
half a minute, printing a dozen lines of warnings, before it fails; with HF_HUB_OFFLINE set
it fails at once but says `ConnectionError`. A person who forgot `--dataset` needs one line
at once saying what is missing and how to give it. So the cache is looked at first (by its
folders, without importing `datasets`), the hub is probed for a second when it is not, and
only then is `datasets` asked, with its and huggingface_hub's warnings silenced.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROBE_SECONDS = 1.5
_TRUE = {"1", "true", "yes", "on"}


def offline() -> bool:
    """HF_HUB_OFFLINE (or the older HF_DATASETS_OFFLINE) is set: the hub must not be asked."""
    return any(os.environ.get(flag, "").strip().lower() in _TRUE
               for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _hf_home() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "huggingface"
    return Path(os.environ.get("HF_HOME", default)).expanduser()


def cache_dirs(repo: str, config: str) -> list[Path]:
    """Where a cached copy of `repo`'s `config` would be: the datasets cache (prepared
    Arrow files) and the hub cache (downloaded files)."""
    datasets_cache = Path(os.environ.get("HF_DATASETS_CACHE", _hf_home() / "datasets"))
    hub_cache = Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
                     or _hf_home() / "hub")
    return [datasets_cache.expanduser() / repo.replace("/", "___") / config,
            hub_cache.expanduser() / f"datasets--{repo.replace('/', '--')}"]


def cached(repo: str, config: str) -> bool:
    return any(path.is_dir() for path in cache_dirs(repo, config))


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def reachable(url: str, seconds: float = PROBE_SECONDS) -> bool:
    """Whether a TCP connection to `url`'s host opens within `seconds` (a name lookup that
    hangs counts as no: the probe runs in a thread that is not waited for)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((parts.hostname or "", port), timeout=seconds).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(result and result[0])


def quietly(load: Callable[[], Any]) -> Any:
    """Run `load` with datasets' and huggingface_hub's warnings (retries, progress) off."""
    loggers = [logging.getLogger(name) for name in ("datasets", "huggingface_hub", "fsspec")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        return load()
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def unavailable(repo: str, config: str) -> str | None:
    """Why `repo`'s `config` cannot be loaded now without waiting, or None when it may be:
    it is cached, or the hub answers."""
    if cached(repo, config):
        return None
    if offline():
        return "is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
    if not reachable(endpoint()):
        return (f"is not in the local Hugging Face cache and the hub ({endpoint()}) cannot "
                "be reached")
    return None
