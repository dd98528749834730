"""Finding PSV files: plain folders, tarballs unpacked once into the cache, sampling."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from evaluation.dataset import list_patient_files, resolve_psv_dir

REAL = Path(__file__).parent / "data" / "physionet_sample"


def _tarball(tmp_path: Path) -> Path:
    src = tmp_path / "src" / "training_setZ"
    src.mkdir(parents=True)
    for name in ("p000001.psv", "p000002.psv", "p000009.psv"):
        shutil.copy(REAL / name, src / name)
    folder = tmp_path / "data"
    folder.mkdir()
    tarball = folder / "training_setZ.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(src, arcname="training_setZ")
    return folder


def test_plain_folder_is_used_as_is() -> None:
    assert resolve_psv_dir(REAL) == [REAL]
    files = list_patient_files(REAL)
    assert len(files) == 20
    assert [p.name for p in files] == sorted(p.name for p in files)


def test_tarball_is_unpacked_once(tmp_path: Path) -> None:
    folder = _tarball(tmp_path)
    cache = tmp_path / "cache"
    dirs = resolve_psv_dir(folder, cache_dir=cache)
    assert len(dirs) == 1 and dirs[0].name == "training_setZ"
    assert sorted(p.name for p in dirs[0].glob("*.psv")) == ["p000001.psv", "p000002.psv", "p000009.psv"]
    marker = dirs[0].parent / ".extracted"
    assert marker.exists()
    stamp = marker.stat().st_mtime_ns
    # Second call: nothing is extracted again.
    assert resolve_psv_dir(folder, cache_dir=cache) == dirs
    assert marker.stat().st_mtime_ns == stamp
    # A half-finished extraction (no marker) is redone.
    marker.unlink()
    (dirs[0] / "p000001.psv").unlink()
    assert resolve_psv_dir(folder, cache_dir=cache) == dirs
    assert (dirs[0] / "p000001.psv").exists()


def test_patients_and_seeded_sample() -> None:
    assert [p.name for p in list_patient_files(REAL, patients=3)] == ["p000001.psv", "p000002.psv", "p000003.psv"]
    a = list_patient_files(REAL, patients=5, sample=True, seed=7)
    b = list_patient_files(REAL, patients=5, sample=True, seed=7)
    assert a == b and len(a) == 5
    assert a != list_patient_files(REAL, patients=5)  # a sample, not the first five (with this seed)


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no \.psv files"):
        resolve_psv_dir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        resolve_psv_dir(tmp_path / "absent")
