"""One TLS context per process, shared by every SDK client sweepq builds.

An HTTP client left to itself builds its own context, and building one reads the
machine's whole CA bundle (40-80 ms of CPU here, more than a whole in-process test).
A `ssl.SSLContext` is safe to share between clients and threads, and the verification
it does is the one each client would have set up: certificates checked against the
bundle `SSL_CERT_FILE`/`SSL_CERT_DIR` name, else the system's.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def context() -> ssl.SSLContext:
    """The process's client TLS context, as the SDKs' HTTP client would make it."""
    import httpx2

    return httpx2.create_ssl_context()
