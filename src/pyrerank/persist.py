"""The save format: named parts, each numpy arrays plus JSON, in one folder. Never pickle.

A part is ``(arrays, meta)``: a dict of numpy arrays and a JSON-serialisable dict. The folder
holds ``model.json`` (the format number, every part's meta, the name of the arrays file and a
BLAKE2b digest of every array and of the metadata itself) and ``arrays-<token>.npz`` (every
part's arrays, keyed ``"<part>/<name>"``, stored uncompressed). Which parts a model has and what
they mean is the business of the code that saves it (``Reranker.save``); this module knows only
the format.

A save is atomic: the new arrays file is written and flushed beside the old one, then
``model.json`` is replaced in one rename, so a crash at any moment leaves the previous save or
the new one, never neither; arrays files no ``model.json`` names (left by a killed save) are
removed by the next save. A load checks everything before use: digests, dtypes and shapes
against the metadata, no compressed members (no zip bombs), no symbolic links; and a model path
a save names is followed only inside its folder (:func:`encoder_inside`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PyrerankError

FORMAT = 2
Part = tuple[dict[str, np.ndarray], dict[str, Any]]
_ARRAYS_FILE = re.compile(r"arrays-[0-9a-f]{16}\.npz")


def _digest(data: bytes | memoryview) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _array_digest(array: np.ndarray) -> str:
    """Digest of an array's dtype, shape and bytes."""
    header = f"{array.dtype.str}{array.shape}".encode()
    return _digest(header + np.ascontiguousarray(array).tobytes())


def _write_durably(path: Path, write: Any) -> None:
    """Call write(file) on `path` opened for binary writing, then flush it to disk."""
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(path: str | os.PathLike, parts: dict[str, Part]) -> None:
    """Write `parts` to folder `path` (created if needed), replacing a save already there."""
    target = Path(path)
    arrays = {f"{name}/{key}": value for name, (part_arrays, _) in parts.items() for key, value in part_arrays.items()}
    metadata = {name: part_meta for name, (_, part_meta) in parts.items()}
    arrays_file = f"arrays-{secrets.token_hex(8)}.npz"
    text = json.dumps(
        {
            "format": FORMAT,
            "arrays": arrays_file,
            "digests": {key: _array_digest(value) for key, value in arrays.items()},
            "parts_digest": _digest(json.dumps(metadata, sort_keys=True).encode()),
            "parts": metadata,
        }
    )  # before anything is written: a value JSON cannot hold fails here
    if target.is_symlink():
        raise PyrerankError(f"will not save through a symbolic link: {str(target)!r}")
    target.mkdir(parents=True, exist_ok=True)
    staged = target / f".model.json.{arrays_file}"
    try:
        _write_durably(target / arrays_file, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]  # numpy stub
        _write_durably(staged, lambda f: f.write(text.encode()))
        os.replace(staged, target / "model.json")  # the moment the new save takes over
        _fsync_folder(target)
    except BaseException:
        for leftover in (staged, target / arrays_file):
            leftover.unlink(missing_ok=True)
        raise
    for entry in target.iterdir():  # what earlier (or killed) saves left
        if entry.name != arrays_file and (_ARRAYS_FILE.fullmatch(entry.name) or entry.name.startswith(".model.json.")):
            entry.unlink(missing_ok=True)


def load(path: str | os.PathLike) -> dict[str, Part]:
    """The parts saved in folder `path`; PyrerankError, naming the file, if anything is missing,
    truncated, altered or not what the metadata says."""
    folder = Path(path)
    where = f"saved model at {str(folder)!r}"
    meta_path = folder / "model.json"
    if not meta_path.exists():
        raise PyrerankError(f"no {where}: {meta_path} is missing")
    if meta_path.is_symlink():
        raise PyrerankError(f"{where}: model.json is a symbolic link, which a save never writes")
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, OSError, RecursionError) as exc:
        raise PyrerankError(f"{where} is corrupt: model.json is not readable JSON ({type(exc).__name__})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise PyrerankError(f"{where} has format {found!r}; this version reads format {FORMAT}")
    parts_meta, arrays_file, digests = meta.get("parts"), meta.get("arrays"), meta.get("digests")
    if not (isinstance(parts_meta, dict) and isinstance(digests, dict) and isinstance(arrays_file, str)):
        raise PyrerankError(f"{where} is corrupt: model.json lacks parts, arrays or digests")
    if meta.get("parts_digest") != _digest(json.dumps(parts_meta, sort_keys=True).encode()):
        raise PyrerankError(f"{where} is corrupt: model.json does not match its digest")
    arrays = _load_arrays(folder, arrays_file, digests, where)
    parts: dict[str, Part] = {}
    for name, part_meta in parts_meta.items():
        if not isinstance(part_meta, dict):
            raise PyrerankError(f"{where} is corrupt: part {name!r} has no metadata")
        parts[name] = ({}, part_meta)
    for key, value in arrays.items():
        name, _, array_name = key.partition("/")
        if name not in parts:
            raise PyrerankError(f"{where} is corrupt: {arrays_file} holds arrays of an unknown part {name!r}")
        parts[name][0][array_name] = value
    return parts


def _load_arrays(folder: Path, arrays_file: str, digests: dict[str, Any], where: str) -> dict[str, np.ndarray]:
    """The arrays of `arrays_file`, each checked against its digest."""
    if not _ARRAYS_FILE.fullmatch(arrays_file):
        raise PyrerankError(f"{where} is corrupt: model.json names arrays file {arrays_file[:80]!r}")
    path = folder / arrays_file
    if path.is_symlink():
        raise PyrerankError(f"{where}: {arrays_file} is a symbolic link, which a save never writes")
    try:
        with open(path, "rb") as f:
            with zipfile.ZipFile(f) as archive:
                members = archive.infolist()
                if any(m.compress_type != zipfile.ZIP_STORED for m in members):
                    raise PyrerankError(f"{where} is corrupt: {arrays_file} has compressed members")
                if sum(m.file_size for m in members) > os.fstat(f.fileno()).st_size:
                    raise PyrerankError(f"{where} is corrupt: {arrays_file} claims more bytes than it holds")
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError as exc:
        raise PyrerankError(f"{where} is incomplete: {arrays_file} is missing") from exc
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise PyrerankError(f"{where} is corrupt or truncated: {arrays_file}: {exc}") from exc
    if set(arrays) != set(digests):
        raise PyrerankError(f"{where} is corrupt: {arrays_file} does not hold the arrays model.json lists")
    for key, value in arrays.items():
        if _array_digest(value) != digests[key]:
            raise PyrerankError(f"{where} is corrupt: array {key!r} in {arrays_file} does not match its digest")
    return arrays


def encoder_inside(spec: Any, folder: Path) -> Any:
    """A saved encoder spec whose model path ("name:path") lies inside the save's folder,
    resolved there; PyrerankError for a path anywhere else."""
    if spec is None:  # saved by a vectors-only Reranker
        return None
    if not isinstance(spec, str):
        raise PyrerankError(f"saved model at {str(folder)!r} is corrupt: its encoder is not a name")
    name, _, argument = spec.partition(":")
    if not argument:
        return spec
    inside = (folder / argument).resolve()
    if Path(argument).is_absolute() or not inside.is_relative_to(folder.resolve()):
        raise PyrerankError(
            f"saved model at {str(folder)!r} names an encoder model outside its folder ({name}:...): pass "
            "encoder= yourself, or trust_paths=True if you made this save"
        )
    return f"{name}:{inside}"
