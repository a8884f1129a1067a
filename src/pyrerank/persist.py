"""The save format: named parts, each numpy arrays plus JSON, in one folder. Never pickle.

A part is ``(arrays, meta)``: a dict of numpy arrays and a JSON-serialisable dict. The folder
holds ``model.json`` (the format number and every part's meta) and ``arrays.npz`` (every
part's arrays, keyed ``"<part>/<name>"``). Which parts a model has and what they mean is the
business of the code that saves it (``Reranker.save``); this module knows only the format.

A save writes a new folder beside the target and renames it into place, so a crash never
leaves a half-written save under the target name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import PyrerankError

FORMAT = 2
Part = tuple[dict[str, np.ndarray], dict[str, Any]]


def save(path: str | os.PathLike, parts: dict[str, Part]) -> None:
    """Write `parts` to folder `path`, replacing what was there."""
    target = Path(path)
    meta = {"format": FORMAT, "parts": {name: part_meta for name, (_, part_meta) in parts.items()}}
    arrays = {f"{name}/{key}": value for name, (part_arrays, _) in parts.items() for key, value in part_arrays.items()}
    text = json.dumps(meta)  # before anything is written: a value JSON cannot hold fails here
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (staging / "model.json").write_text(text)
        np.savez(staging / "arrays.npz", **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def load(path: str | os.PathLike) -> dict[str, Part]:
    """The parts saved in folder `path`; PyrerankError if it is missing, truncated or corrupt."""
    folder = Path(path)
    try:
        meta = json.loads((folder / "model.json").read_text())
        with open(folder / "arrays.npz", "rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except FileNotFoundError as exc:
        raise PyrerankError(f"no saved model at {str(folder)!r}: {exc.filename} is missing") from exc
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise PyrerankError(f"saved model at {str(folder)!r} is corrupt or truncated: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("parts"), dict):
        found = meta.get("format") if isinstance(meta, dict) else None
        raise PyrerankError(f"saved model at {str(folder)!r} has format {found!r}; this version reads format {FORMAT}")
    parts: dict[str, Part] = {name: ({}, part_meta) for name, part_meta in meta["parts"].items()}
    for key, value in arrays.items():
        name, _, array_name = key.partition("/")
        if name not in parts:
            raise PyrerankError(f"saved model at {str(folder)!r} is corrupt: arrays of an unknown part {name!r}")
        parts[name][0][array_name] = value
    return parts
