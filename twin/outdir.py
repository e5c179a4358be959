"""The twin's output folder (``--out``): a mirror of the local lake, refreshed by every command.

The twin owns the folder it writes to. Before a command it removes what an earlier twin command
wrote there, recognised by the ``summary.json`` every command writes first (a marker) and last
(the summary); then it copies every object the local lake holds (data and quarantine). It never
deletes what it did not write: a non-empty folder without that marker, or with files a twin
command does not write (anything but ``summary.json`` at the top and ``.gz`` objects in folders
below), is refused with a message naming the folder. So the objects in the folder are those the
lake held when the command its ``summary.json`` describes ended.

Errors are ``OutDirError``: one line that names the folder, never a traceback.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

MARKER = "summary.json"
WRITTEN_BY = "python -m twin"
# what a summary.json of an earlier twin version holds, before it carried WRITTEN_BY
_LEGACY_KEYS = frozenset({"produced", "delivered", "quarantined", "counts_add_up", "data_keys", "quarantine_keys"})


def _write_private(p: Path, data: bytes) -> None:
    """Write ``p`` owner-only (0600), whatever the umask, also over an existing file."""
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fd, 0o600)
        fh.write(data)


class OutDirError(Exception):
    """The output folder cannot be used. The message names the folder and why."""


@dataclass
class OutDir:
    path: Path
    replaced_earlier_run: bool = False
    data_objects: int = 0
    quarantine_objects: int = 0
    unsafe_keys: int = 0  # lake objects whose key is not a plain relative path: never copied
    bucket: str = ""

    def holds(self) -> str:
        """What the folder holds after the command, for the printed summary."""
        def n(count: int, what: str) -> str:
            return f"{count:,} {what} object{'' if count == 1 else 's'}"

        text = (f"a copy of the local lake s3://{self.bucket}/ (data and quarantine): {n(self.data_objects, 'data')}, "
                f"{n(self.quarantine_objects, 'quarantine')}, {MARKER}")
        if self.unsafe_keys:
            text += (f"; {self.unsafe_keys:,} object{'' if self.unsafe_keys == 1 else 's'} NOT copied: "
                     "key not a plain relative path ('..', '.', an empty or absolute part)")
        return text + ("  (refreshed: the earlier copy was removed first)" if self.replaced_earlier_run else "")

    def write_objects(self, bucket: str, objects: dict[str, bytes], *, quarantine: bool) -> None:
        """Copy delivered objects, GZIP-compressed as they are in S3, under ``<bucket>/<key>``."""
        self.bucket = bucket
        safe = {k: v for k, v in objects.items() if _plain_key(bucket) and _plain_key(k)}
        self.unsafe_keys += len(objects) - len(safe)
        objects = safe
        try:
            for key, body in objects.items():
                p = self.path / bucket / key
                folder = self.path
                for part in p.parent.relative_to(self.path).parts:  # each level owner-only (mkdir's
                    folder = folder / part                          # parents=True would not be)
                    folder.mkdir(mode=0o700, exist_ok=True)
                _write_private(p, gzip.compress(body, mtime=0))
        except OSError as exc:
            raise OutDirError(f"--out {self.path}: cannot write the delivered objects ({exc.strerror or exc})") from None
        if quarantine:
            self.quarantine_objects += len(objects)
        else:
            self.data_objects += len(objects)

    def write_summary(self, summary: dict) -> None:
        try:
            _write_private(self.path / MARKER, json.dumps({"written_by": WRITTEN_BY, **summary}, indent=2).encode())
        except OSError as exc:
            raise OutDirError(f"--out {self.path}: cannot write {MARKER} ({exc.strerror or exc})") from None


def _plain_key(key: str) -> bool:
    """An S3 key that names a file below the copy's folder, and nothing else: S3 takes any key
    (``../../x``, ``/etc/x``, ``a//b``), a file system resolves them; such an object is not copied."""
    parts = key.split("/")
    return bool(key) and "\0" not in key and "\\" not in key and all(p not in ("", ".", "..") for p in parts)


def _written_by_twin(folder: Path) -> bool:
    marker = folder / MARKER
    if marker.is_symlink() or not marker.is_file():
        return False
    try:
        doc = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and (doc.get("written_by") == WRITTEN_BY or _LEGACY_KEYS <= doc.keys())


def _foreign(folder: Path) -> Path | None:
    """The first entry a twin run would not have written, if any (symbolic links are never ours)."""
    for entry in sorted(folder.rglob("*")):
        rel = entry.relative_to(folder)
        if entry.is_symlink():
            return rel
        if entry.is_dir():
            continue
        if rel == Path(MARKER) or (len(rel.parts) > 1 and entry.suffix == ".gz" and entry.is_file()):
            continue
        return rel
    return None


def check(out_dir: str | Path) -> None:
    """Refuse ``out_dir`` as ``prepare`` would, touching nothing (a command checks it before it
    starts, and empties it only once it can run: a refused command leaves the earlier copy)."""
    path = Path(out_dir).absolute()
    try:
        _refusal(path)
    except OSError as exc:
        raise OutDirError(f"--out {path}: cannot use it as the output folder ({exc.strerror or exc})") from None


def _refusal(path: Path) -> bool:
    """Raise OutDirError if ``path`` cannot be the output folder; True if it holds an earlier copy."""
    if path.exists() and not path.is_dir():
        raise OutDirError(f"--out {path}: exists and is not a folder")
    if not (path.is_dir() and any(path.iterdir())):
        return False
    if not _written_by_twin(path):
        raise OutDirError(
            f"--out {path}: the folder is not empty and has no {MARKER} from an earlier twin run; "
            "give a new or empty folder (the twin replaces its own output, and nothing else)"
        )
    stray = _foreign(path)
    if stray is not None:
        raise OutDirError(
            f"--out {path}: holds {stray}, which a twin run does not write; move it away or give "
            "another folder (the twin replaces its own output, and nothing else)"
        )
    return True


def prepare(out_dir: str | Path) -> OutDir:
    """Make ``out_dir`` ready for one command: created if missing, emptied of an earlier twin
    command's output, refused if it holds anything else. Leaves the marker in it, so that a command
    that fails half-way leaves a folder the next one recognises."""
    path = Path(out_dir).absolute()
    replaced = False
    try:
        if _refusal(path):
            for entry in path.iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            replaced = True
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)  # the copy of the lake holds the quarantine's raw records: owner only
        _write_private(path / MARKER, json.dumps({"written_by": WRITTEN_BY, "complete": False}).encode())
    except OSError as exc:
        raise OutDirError(f"--out {path}: cannot use it as the output folder ({exc.strerror or exc})") from None
    return OutDir(path, replaced_earlier_run=replaced)
