"""SHA-256 and BLAKE2b from CPython's own modules, without ``hashlib``.

``import hashlib`` loads OpenSSL (~5-8 ms on the 2-core machine), paid by
every command that writes or checks a log; the built-in implementations give
the same digests and load in well under that. Where an interpreter lacks
them (a build without), ``hashlib``'s are used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol


class Hash(Protocol):
    """What callers use of a hash object."""

    def digest(self) -> bytes: ...

    def hexdigest(self) -> str: ...


def _built_in(modules: tuple[str, ...], name: str) -> Callable[..., Hash]:
    for module in modules:
        try:
            found: Callable[..., Hash] = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        return found
    import hashlib  # pragma: no cover - a build without the built-in modules

    return getattr(hashlib, name)  # type: ignore[no-any-return]  # pragma: no cover


#: ``hashlib.sha256`` (``_sha2`` from 3.12, ``_sha256`` before)
sha256 = _built_in(("_sha2", "_sha256"), "sha256")
#: ``hashlib.blake2b``
blake2b = _built_in(("_blake2",), "blake2b")
