"""The store's reader/writer protocol: one writer by our own lock, readers that wait their turn.

DuckDB lets *one* process open a database file read-write, or any number of processes open it
read-only -- never both at the same time: it takes an ``fcntl`` lock on the file itself and a
second process gets ``IO Error: Could not set lock on file ...``. The store turns that into two rules:

1. **One writer**, enforced by us and not by DuckDB: :class:`WriteLock` is an exclusive ``flock`` on
   ``<store>.lock`` held for the whole pull, with the holder's PID written into the file, so a second
   pull fails at once with :class:`~toolkit.errors.StoreLockedError` naming that PID (or waits up to
   ``wait`` seconds). The kernel drops the lock when the process dies, even by SIGKILL.
2. **Short DuckDB connections** (:mod:`toolkit.store.attach`): the writer attaches the database for
   each commit and readers attach it read-only for each read. Between two commits the file is free,
   so a reader gets in; when the file is momentarily held by the other side, both retry with short
   randomized sleeps (:data:`FIRST_SLEEP` to :data:`LAST_SLEEP`) for a bounded time. A waiting reader
   signs it (:class:`ReaderWaiting`) and the writer lets it in after its current write.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from toolkit.errors import StoreError, StoreLockedError

#: Sleeps between retries while the file is busy (seconds): doubled from the first to the last, randomized ±50 %.
FIRST_SLEEP, LAST_SLEEP = 0.005, 0.05


class ReaderWaiting:
    """A reader's sign that it waits for the store file: a shared ``lockf`` lock on byte 1 of ``<store>.lock``
    (the writer's own lock is a ``flock`` on the whole file, which POSIX record locks do not touch).

    Attaching takes the file whenever it is free, with no queue: a writer whose commits follow each other
    closely (a fast pull) would find it free again first, and a reader retrying every few tens of
    milliseconds could wait for the whole pull. So a writer, after each write, lets waiting readers in
    (:meth:`let_in`) before it goes on. Record locks belong to a process: a reader in the writer's own
    process gives no sign, and takes its turn by retrying only.
    """

    #: Longest pause of a writer for waiting readers after one write (seconds): longer than a reader's
    #: longest sleep between attempts.
    TURN = 2 * LAST_SLEEP

    def __init__(self, lock_path: Path) -> None:
        try:
            self.fd: int | None = os.open(lock_path, os.O_RDONLY)
        except OSError:
            self.fd = None  # no lock file (never written) or not readable: no sign, retries only
            return
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 1)
        except OSError:
            self.close()

    def close(self) -> None:
        """Withdraw the sign (closing the file releases the lock)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    @classmethod
    def let_in(cls, lock_path: Path) -> None:
        """Pause while a reader of another process signs that it waits (at most :attr:`TURN`)."""
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except OSError:
            return
        try:
            deadline = time.monotonic() + cls.TURN
            while True:
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 1)
                    return  # nobody waits (the lock goes when fd closes)
                except OSError:
                    if time.monotonic() >= deadline:
                        return
                    time.sleep(0.002)
        finally:
            os.close(fd)


class WriteLock:
    """Exclusive ``flock`` on ``<store>.lock`` holding the owner's PID; released on exit or process death."""

    def __init__(self, lock_path: Path, store_path: Path, *, wait: float) -> None:
        self.lock_path, self.store_path, self.wait = lock_path, store_path, wait
        self.fd: int | None = None

    def __enter__(self) -> WriteLock:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot write to store {self.store_path}: cannot create {self.lock_path.name} "
                             f"({exc.strerror or exc}); pass another --store") from exc
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder(fd)
                    os.close(fd)
                    raise StoreLockedError(f"store {self.store_path} is locked by PID {holder} (another pull is "
                                           "running); wait for it or pass another --store") from None
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    @staticmethod
    def _holder(fd: int) -> str:
        """PID written by the holder; it writes right after locking, so allow it a moment."""
        for _ in range(50):
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            if pid:
                return pid
            time.sleep(0.01)
        return "unknown"

    def __exit__(self, *exc_info: object) -> None:
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None
