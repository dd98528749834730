"""Finding the challenge files: unpack the published tarball once, list and sample patients.

`DIR` on the command line may be a folder of `.psv` files, a folder holding one or
more `training_set*.tar.gz` tarballs (as /work/shared/data/physionet2019 does), or a
tarball itself. Tarballs are unpacked into a git-ignored cache folder
(`.local/physionet/` by default) once: a marker file written after a complete
extraction makes later calls a no-op, and a half-finished extraction is redone.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tarfile
from pathlib import Path

__all__ = ["DEFAULT_CACHE_DIR", "list_patient_files", "resolve_psv_dir"]

DEFAULT_CACHE_DIR = Path(os.environ.get("SEPSIS_PHYSIONET_CACHE")
                         or Path(__file__).resolve().parent.parent / ".local" / "physionet")
"""Where tarballs are unpacked: $SEPSIS_PHYSIONET_CACHE, else the repository's git-ignored .local/physionet/."""

_MARKER = ".extracted"


def _psv_dirs(root: Path) -> list[Path]:
    """Folders under `root` (itself included) that directly hold .psv files, sorted."""
    found = {p.parent for p in root.rglob("*.psv")}
    return sorted(found)


def _extract(tarball: Path, cache_dir: Path) -> Path:
    """Unpack `tarball` under cache_dir/<stem>-<digest8>/ unless already complete; return that folder."""
    stat = tarball.stat()
    tag = hashlib.sha256(f"{tarball.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:8]
    stem = tarball.name.removesuffix(".gz").removesuffix(".tar").removesuffix(".tgz")
    target = cache_dir / f"{stem}-{tag}"
    if (target / _MARKER).exists():
        return target
    if target.exists():
        shutil.rmtree(target, ignore_errors=True)  # an earlier extraction was interrupted
    # Extract beside the target under a per-process name, then rename: concurrent callers (parallel
    # tests, a training run) never see a half-written folder, and the first complete one wins.
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with tarfile.open(tarball, "r:*") as archive:
            # The data filter refuses absolute paths, links out of the folder and device files.
            archive.extractall(partial, filter="data")
        (partial / _MARKER).write_text(f"{tarball.resolve()}\n")
        partial.rename(target)
    except OSError:
        if not (target / _MARKER).exists():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def resolve_psv_dir(data: Path, *, cache_dir: Path = DEFAULT_CACHE_DIR) -> list[Path]:
    """The folders of .psv files that `data` stands for, unpacking tarballs on first use.

    Raises FileNotFoundError when `data` holds neither .psv files nor a tarball.
    """
    data = Path(data)
    if data.is_file() and data.name.endswith((".tar.gz", ".tgz", ".tar")):
        return _psv_dirs(_extract(data, cache_dir))
    if not data.is_dir():
        raise FileNotFoundError(f"{data}: no such folder or tarball")
    direct = sorted(data.glob("*.psv"))
    if direct:
        return [data]
    tarballs = sorted([*data.glob("*.tar.gz"), *data.glob("*.tgz")])
    if tarballs:
        return [d for t in tarballs for d in _psv_dirs(_extract(t, cache_dir))]
    nested = _psv_dirs(data)
    if nested:
        return nested
    raise FileNotFoundError(f"{data}: no .psv files and no training_set*.tar.gz tarball")


def list_patient_files(
    data: Path,
    *,
    patients: int | None = None,
    sample: bool = False,
    seed: int = 2019,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> list[Path]:
    """The .psv files to replay or evaluate, sorted by name.

    `patients` caps the count: the first N files by name, or with `sample=True` a
    random sample of N (seeded, so repeatable), returned in name order.
    """
    files = sorted((p for d in resolve_psv_dir(data, cache_dir=cache_dir) for p in d.glob("*.psv")),
                   key=lambda p: (p.name, str(p)))
    if patients is None or patients >= len(files):
        return files
    if patients < 0:
        raise ValueError(f"patients must be >= 0, got {patients}")
    if sample:
        chosen = random.Random(seed).sample(files, patients)
        return sorted(chosen, key=lambda p: (p.name, str(p)))
    return files[:patients]
