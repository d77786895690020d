"""Where a credential keeps its secret across restarts."""

from __future__ import annotations

import os
import tempfile
from typing import Callable, Protocol


class SecretStore(Protocol):
    """Keeps the secret a credential swapped in, so a restart starts with it."""

    def load(self) -> str | None: ...

    def save(self, secret: str) -> None: ...


class FileStore:
    """A file holding the secret alone, replaced atomically, readable by its owner only
    (mode 0600): a crash mid-write leaves the old file whole."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> str | None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read().strip()
        except FileNotFoundError:
            return None
        return text or None

    def save(self, secret: str) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".keyroll-")
        try:
            os.fchmod(descriptor, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secret)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
            raise


class CallbackStore:
    """The application's own place (a secrets manager, a database): `save` is called with
    each new secret; `load`, if given, is asked for one at start."""

    def __init__(
        self,
        save: Callable[[str], None],
        load: Callable[[], str | None] | None = None,
    ) -> None:
        self._save = save
        self._load = load

    def load(self) -> str | None:
        return self._load() if self._load is not None else None

    def save(self, secret: str) -> None:
        self._save(secret)


class NoStore:
    """Keeps nothing: a restart starts with the secret it is given."""

    def load(self) -> str | None:
        return None

    def save(self, secret: str) -> None:
        return None
