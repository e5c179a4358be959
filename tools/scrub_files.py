"""The files of ``python -m tools.contracts scrub``: checked before anything is written.

Every problem is an ``InputError`` whose message is one line naming the file and what is wrong
with it; never the file's content or key material (a keyring holds secrets, an input holds
personal data). Outputs are created owner-only (0600): the output holds pseudonymised but still
personal data, the quarantine raw records.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from privacy.keys import Keyring

KEYRING_ENV = "PSEUDONYM_KEYRING"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_MIN_KEY_BYTES = 32
_MAX_KEYRING_BYTES = 1 << 20
_SHAPE = '{"current": "<id>", "<id>": "<key of 32+ characters>"}'


class InputError(Exception):
    """A file or option cannot be used. One line, naming it; never its content."""


def _kind(v) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(v), "a number")


def parse_keyring(text: str, where: str) -> Keyring:
    """A keyring from its JSON text; ``where`` names it in errors (a file, or the variable)."""
    if not text.strip():
        raise InputError(f"{where}: is empty; expected {_SHAPE}")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: is not JSON (line {exc.lineno}, column {exc.colno}); expected {_SHAPE}") from None
    except RecursionError:
        raise InputError(f"{where}: is nested too deep to be a keyring; expected {_SHAPE}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{where}: must be a JSON object {_SHAPE}, got {_kind(doc)}")
    if "current" not in doc:
        raise InputError(f'{where}: has no "current" naming the key to use; expected {_SHAPE}')
    current = doc.pop("current")
    if not doc:
        raise InputError(f"{where}: holds no key; expected {_SHAPE}")
    for kid, key in doc.items():
        if not _KEY_ID.fullmatch(kid):  # a key id is never printed unless it is a valid one (< 32 chars)
            raise InputError(f"{where}: a key id is not 1 to 16 of A-Z, a-z, 0-9, '_' and '-'")
        if not isinstance(key, str):
            raise InputError(f"{where}: key {kid} must be a string, got {_kind(key)}")
        if len(key.encode("utf-8")) < _MIN_KEY_BYTES:
            raise InputError(f"{where}: key {kid} is shorter than {_MIN_KEY_BYTES} bytes")
    if not isinstance(current, str) or current not in doc:
        raise InputError(f'{where}: "current" names no key in it (its keys: {", ".join(sorted(doc))})')
    try:
        return Keyring({k: v.encode("utf-8") for k, v in doc.items()}, current)
    except ValueError:
        raise InputError(f"{where}: is not a valid keyring; expected {_SHAPE}") from None


def _open_regular(path: str, what: str) -> BinaryIO:
    """``path`` opened for reading, or one line naming ``what`` and the problem."""
    p = Path(path)
    try:
        if p.is_dir():
            raise InputError(f"{what} {path}: is a folder, not a file")
        if p.exists() and not p.is_file():  # a FIFO or a device would block, or never end
            raise InputError(f"{what} {path}: is not a regular file")
        return p.open("rb")
    except FileNotFoundError:
        raise InputError(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot be read ({exc.strerror or type(exc).__name__})") from None


def _read_small_text(path: str, what: str) -> str:
    with _open_regular(path, what) as fh:
        try:
            data = fh.read(_MAX_KEYRING_BYTES + 1)
        except OSError as exc:
            raise InputError(f"{what} {path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > _MAX_KEYRING_BYTES:
        raise InputError(f"{what} {path}: is larger than a keyring can be (1 MiB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} {path}: is not UTF-8 text") from None


def load_keyring(path: str | None) -> Keyring | None:
    """The keyring of ``--keyring FILE``, else of the environment variable, else None."""
    if path is not None:
        return parse_keyring(_read_small_text(path, "--keyring"), f"--keyring {path}")
    text = os.environ.get(KEYRING_ENV)
    return None if text is None else parse_keyring(text, KEYRING_ENV)


def open_input(path: str) -> BinaryIO:
    return _open_regular(path, "input")


def same_file(a: Path, b: Path) -> bool:
    """The same file, under any name (symbolic or hard link, ``./x`` and ``x``), or the same path
    once created when neither exists yet."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


_ROOT = Path(__file__).resolve().parent.parent
TWIN_OWNED = (".twin", "out")  # the local cloud's state folder, and its copy of the lake


def twin_owned(path: Path) -> Path | None:
    """The twin folder ``path`` lies in (the local cloud's state, or the copy of its lake), if any."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        return None
    for name in TWIN_OWNED:
        folder = _ROOT / name
        if resolved == folder or folder in resolved.parents:
            return folder
    return None


def check_outputs(outputs: dict[str, Path], inputs: dict[str, Path]) -> None:
    """Refuse an output that is an input or another output, a folder, a symbolic link, a file
    the local cloud owns, or in no folder."""
    for label, out in outputs.items():
        for other_label, other in inputs.items():
            if same_file(out, other):
                raise InputError(f"{label} {out}: is the {other_label} file; writing it would destroy it")
        if out.is_symlink():
            raise InputError(f"{label} {out}: is a symbolic link (its target is not overwritten); give a new file")
        if (owner := twin_owned(out)) is not None:
            raise InputError(f"{label} {out}: is inside {owner}, which the local cloud owns; write elsewhere")
        if out.is_dir():
            raise InputError(f"{label} {out}: is a folder, not a file")
        if out.exists() and not out.is_file():  # a device, a FIFO: not ours to change
            raise InputError(f"{label} {out}: is not a regular file")
        if not out.parent.is_dir():
            raise InputError(f"{label} {out}: its folder {out.parent} does not exist")
        for other_label, other in inputs.items():
            if same_file(out, other):
                raise InputError(f"{label} {out}: is the {other_label} file; writing it would destroy it")
    (a_label, a), (b_label, b) = outputs.items()
    if same_file(a, b):
        raise InputError(f"{b_label} {b}: is the same file as {a_label} {a}; give another --output or --quarantine")


def open_private(path: Path, label: str, avoid: dict[tuple[int, int], str]) -> BinaryIO:
    """Open ``path`` for writing, owner-only (0600, also when it exists with a wider mode), and
    empty it, unless it turns out to be one of the files in ``avoid`` ((st_dev, st_ino) -> name):
    checked on the open file, before anything is truncated."""
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise InputError(f"{label} {path}: cannot be written ({exc.strerror or type(exc).__name__})") from None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        # a device, a FIFO, a folder: neither its mode nor its content is ours to change
        raise InputError(f"{label} {path}: is not a regular file")
    try:
        # O_NONBLOCK: a FIFO swapped in since the check must not block the open
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise InputError(f"{label} {path}: cannot be written ({exc.strerror or type(exc).__name__})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{label} {path}: is not a regular file")
        os.set_blocking(fd, True)
        clash = avoid.get((st.st_dev, st.st_ino))
        if clash is not None:
            raise InputError(f"{label} {path}: is the {clash} file; writing it would destroy it")
        os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        return os.fdopen(fd, "wb")
    except OSError as exc:
        os.close(fd)
        raise InputError(f"{label} {path}: cannot be written ({exc.strerror or type(exc).__name__})") from None
    except BaseException:
        os.close(fd)
        raise
