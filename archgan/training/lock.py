"""The lock of a run folder: RUN/.lock names the process writing the folder (pid, host, a token), so a
second run on the same folder is refused instead of mixing its checkpoints and logs with the first's. A
lock left by a process that is gone (same host, pid not alive) is taken over with a warning; one from
another host cannot be checked and is only ever removed by hand."""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from pathlib import Path

from ..errors import SetupError
from .files import LOCK_FILE

log = logging.getLogger("archgan.train")


class RunLock:
    """Held from acquire() to release(); the lock file is created whole (written aside, then linked into
    place), so a reader never sees half of one."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                       "token": uuid.uuid4().hex}
        self.held = False

    def acquire(self) -> None:
        """Take the lock, or raise a SetupError naming the run that holds it."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        mine = self.path.with_name(f"{LOCK_FILE}.{self.record['token']}")
        mine.write_text(json.dumps(self.record) + "\n")
        try:
            try:
                os.link(mine, self.path)
            except FileExistsError:
                self._take_over_if_stale(mine)
        finally:
            mine.unlink(missing_ok=True)
        self.held = True

    def _take_over_if_stale(self, mine: Path) -> None:
        holder = self._holder()
        if holder is None:
            raise SetupError(f"{self.path}: a lock file archgan cannot read; if no run is writing {self.run_dir}, "
                             "delete it and start again")
        if holder["host"] != self.record["host"] or _alive(holder["pid"]):
            raise SetupError(
                f"{self.run_dir}: another run is writing this folder (pid {holder['pid']} on {holder['host']}, since "
                f"{holder.get('since', '?')}); wait for it to end, or give this run another --run_dir. If no run is "
                f"writing there any more, delete {self.path}")
        log.warning("%s: taking over the lock of pid %s on %s, which is no longer running", self.run_dir,
                    holder["pid"], holder["host"])
        os.replace(mine, self.path)
        if (self._holder() or {}).get("token") != self.record["token"]:  # another process took it over at once
            raise SetupError(f"{self.run_dir}: another run took over this folder's stale lock at the same moment; "
                             "give this run another --run_dir")

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        valid = isinstance(holder, dict) and isinstance(holder.get("pid"), int) and isinstance(holder.get("host"), str)
        return holder if valid else None

    def release(self) -> None:
        """Remove the lock file if it is still this lock's."""
        if self.held and (self._holder() or {}).get("token") == self.record["token"]:
            self.path.unlink(missing_ok=True)
        self.held = False


def _alive(pid: int) -> bool:
    """Whether a process of this host has this pid (one of another user counts as alive)."""
    if os.name != "posix":  # os.kill would end the process there instead of probing it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
