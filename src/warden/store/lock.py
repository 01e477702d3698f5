"""Who owns an embedded (SQLite) store: a running ``warden serve`` holds a lock beside it.

A server caches the registry and policies and is the ledger's writer; a CLI command that
wrote to the same file behind its back would not be seen by the server until it restarts.
So the server takes an exclusive ``flock`` on ``<database>.serve.lock`` (released by the OS
when the process ends, however it ends) and writes its URL into it; local CLI commands that
change state check it and point the user at ``--url`` instead.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from warden.store.errors import StoreError


class StoreInUse(StoreError):
    code = "store_in_use"


def _lock_path(database_path: str) -> Path:
    return Path(database_path + ".serve.lock")


def hold_server_lock(database_path: str, url: str) -> IO[str]:
    """Take the store for a server at ``url``; keep the returned handle open while serving."""
    handle = _lock_path(database_path).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = _owner(handle)
        handle.close()
        raise StoreInUse(f"another warden server ({owner}) is already using this store") from None
    handle.truncate(0)
    handle.write(f"{url} pid {os.getpid()}\n")
    handle.flush()
    return handle


def serving_url(database_path: str) -> str | None:
    """The URL of the server holding ``database_path``, or None when no server holds it."""
    path = _lock_path(database_path)
    if not path.exists():
        return None
    with path.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _owner(handle).split(" ")[0] or "a running server"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _owner(handle: IO[str]) -> str:
    handle.seek(0)
    return handle.read().strip() or "unknown"
