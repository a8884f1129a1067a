"""The save format: named parts, each numpy arrays plus JSON, in one folder. Never pickle.

A part is ``(arrays, meta)``: a dict of numpy arrays and a JSON-serialisable dict. The folder
holds ``model.json`` (the format number, every part's meta, each array's file, dtype, shape and
CRC-32C of every 64 MiB, and a BLAKE2b digest of the metadata itself) and ``arrays-<token>/``, one ``.npy`` file
per array. Which parts a model has and what they mean is the business of the code that saves it
(``Reranker.save``); this module knows only the format.

Opening a save memory-maps every array of 1 MiB or more (read-only, shared by the processes that
open the same files; nothing is copied until it is written) and reads the smaller ones. Every
byte is checked against its CRC-32C as it is opened (~7 GB/s from the page cache), dtypes,
shapes and memory order against the metadata, and symbolic links are refused; a model path a
save names is followed only inside its folder (:func:`encoder_inside`).

A save is atomic: the new arrays folder is written and flushed beside the old one, then
``model.json`` is replaced in one rename, so a crash at any moment leaves the previous save or
the new one, never neither; arrays folders no ``model.json`` names (left by a killed save) are
removed by the next save.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from . import _core
from .errors import PyrerankError

FORMAT = 3
MAP_FROM_BYTES = 1 << 20  # arrays this large or larger are memory-mapped when opened
CHECK_CHUNK = 64 << 20  # bytes per CRC-32C in model.json: chunks are checked on every core
Part = tuple[dict[str, np.ndarray], dict[str, Any]]
_ARRAYS_DIR = re.compile(r"arrays-[0-9a-f]{16}")
_ARRAY_FILE = re.compile(r"a[0-9]{1,9}\.npy")
_OLD_ARRAYS_FILE = re.compile(r"arrays-[0-9a-f]{16}\.npz")  # format 2, removed by the next save


def _digest(data: bytes | memoryview) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


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
    arrays_dir = f"arrays-{secrets.token_hex(8)}"
    contiguous = {key: np.ascontiguousarray(value) for key, value in arrays.items()}
    entries = {
        key: {"file": f"a{i}.npy", "dtype": value.dtype.str, "shape": list(value.shape), "crc32c": _checksums(value)}
        for i, (key, value) in enumerate(contiguous.items())
    }
    text = json.dumps(
        {
            "format": FORMAT,
            "arrays": arrays_dir,
            "entries": entries,
            "parts_digest": _digest(json.dumps(metadata, sort_keys=True).encode()),
            "parts": metadata,
        }
    )  # before anything is written: a value JSON cannot hold fails here
    if target.is_symlink():
        raise PyrerankError(f"will not save through a symbolic link: {str(target)!r}")
    target.mkdir(parents=True, exist_ok=True)
    staged = target / f".model.json.{arrays_dir}"
    try:
        (target / arrays_dir).mkdir()
        for key, value in contiguous.items():
            _write_durably(
                target / arrays_dir / entries[key]["file"], lambda f, v=value: np.save(f, v, allow_pickle=False)
            )
        _fsync_folder(target / arrays_dir)
        _write_durably(staged, lambda f: f.write(text.encode()))
        os.replace(staged, target / "model.json")  # the moment the new save takes over
        _fsync_folder(target)
    except BaseException:
        staged.unlink(missing_ok=True)
        shutil.rmtree(target / arrays_dir, ignore_errors=True)
        raise
    for entry in target.iterdir():  # what earlier (or killed) saves left
        if entry.name == arrays_dir:
            continue
        if _ARRAYS_DIR.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif _OLD_ARRAYS_FILE.fullmatch(entry.name) or entry.name.startswith(".model.json."):
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
    parts_meta, arrays_dir, entries = meta.get("parts"), meta.get("arrays"), meta.get("entries")
    if not (isinstance(parts_meta, dict) and isinstance(entries, dict) and isinstance(arrays_dir, str)):
        raise PyrerankError(f"{where} is corrupt: model.json lacks parts, arrays or entries")
    if meta.get("parts_digest") != _digest(json.dumps(parts_meta, sort_keys=True).encode()):
        raise PyrerankError(f"{where} is corrupt: model.json does not match its digest")
    arrays = _open_arrays(folder, arrays_dir, entries, where)
    parts: dict[str, Part] = {}
    for name, part_meta in parts_meta.items():
        if not isinstance(part_meta, dict):
            raise PyrerankError(f"{where} is corrupt: part {name!r} has no metadata")
        parts[name] = ({}, part_meta)
    for key, value in arrays.items():
        name, _, array_name = key.partition("/")
        if name not in parts:
            raise PyrerankError(f"{where} is corrupt: model.json lists arrays of an unknown part {name!r}")
        parts[name][0][array_name] = value
    return parts


def _chunks(array: np.ndarray) -> list[np.ndarray]:
    flat = array.reshape(-1).view(np.uint8)
    return [flat[i : i + CHECK_CHUNK] for i in range(0, max(len(flat), 1), CHECK_CHUNK)]


def _checksums(array: np.ndarray) -> list[int]:
    """The CRC-32C of each CHECK_CHUNK bytes of a C-contiguous array, computed in parallel (the
    kernel releases the GIL)."""
    chunks = _chunks(array)
    if len(chunks) == 1:
        return [_core.crc32c(chunks[0])]
    with concurrent.futures.ThreadPoolExecutor(min(len(chunks), os.cpu_count() or 1)) as pool:
        return list(pool.map(_core.crc32c, chunks))


def _open_arrays(folder: Path, arrays_dir: str, entries: dict[str, Any], where: str) -> dict[str, np.ndarray]:
    """Every array model.json lists, opened (large ones memory-mapped) and checked."""
    if not _ARRAYS_DIR.fullmatch(arrays_dir):
        raise PyrerankError(f"{where} is corrupt: model.json names arrays folder {arrays_dir[:80]!r}")
    if (folder / arrays_dir).is_symlink():
        raise PyrerankError(f"{where}: {arrays_dir} is a symbolic link, which a save never writes")
    return {key: _open_array(folder / arrays_dir, key, entry, where) for key, entry in entries.items()}


def _open_array(directory: Path, key: str, entry: Any, where: str) -> np.ndarray:
    try:
        name, dtype, shape, crc = entry["file"], np.dtype(entry["dtype"]), tuple(entry["shape"]), entry["crc32c"]
    except (TypeError, KeyError, ValueError):
        raise PyrerankError(f"{where} is corrupt: model.json's entry for array {key!r} is malformed") from None
    if not isinstance(name, str) or not _ARRAY_FILE.fullmatch(name):
        raise PyrerankError(f"{where} is corrupt: model.json names array file {str(name)[:80]!r}")
    path = directory / name
    label = f"{directory.name}/{name} ({key})"
    if path.is_symlink():
        raise PyrerankError(f"{where}: {label} is a symbolic link, which a save never writes")
    nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64)) if all(isinstance(d, int) for d in shape) else -1
    try:
        array = np.load(path, mmap_mode="r" if nbytes >= MAP_FROM_BYTES else None, allow_pickle=False)
    except FileNotFoundError:
        raise PyrerankError(f"{where} is incomplete: {label} is missing") from None
    except Exception as exc:  # a damaged header fails numpy's parser in many ways (SyntaxError, ...)
        raise PyrerankError(f"{where} is corrupt or truncated: {label}: {type(exc).__name__}") from None
    if array.dtype != dtype or array.shape != shape or not array.flags.c_contiguous:
        raise PyrerankError(f"{where} is corrupt: {label} is not the {dtype} {shape} array model.json lists")
    if _checksums(array) != crc:
        raise PyrerankError(f"{where} is corrupt: {label} does not match its checksum")
    return array


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
