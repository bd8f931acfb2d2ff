"""nnbook/files.py's writes of the data files: by name into a temporary beside their place, renamed
whole, with the umask's permissions, nothing left when the writer fails. (The run files' writes
and locks are tested through the runs they make: test_failures.py, test_interrupts.py.)"""

import os
import stat

import pytest

from nnbook.files import atomic_directory, atomic_output, is_temporary


@pytest.fixture
def umask_027():
    before = os.umask(0o027)
    yield
    os.umask(before)


def test_a_file_written_by_name_lands_whole_with_the_umasks_mode(tmp_path, umask_027):
    target = tmp_path / "data.pkl.gz"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and is_temporary(tmp.name, [target.name]) and not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_directory_filled_by_name_lands_whole_with_the_umasks_mode(tmp_path, umask_027):
    target = tmp_path / "entry-v1"
    with atomic_directory(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(f".{target.name}-") and not target.exists()
        (tmp / "a.npy").write_bytes(b"a")
    assert [p.name for p in target.iterdir()] == ["a.npy"] and stat.S_IMODE(target.stat().st_mode) == 0o750
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.parametrize("make", [atomic_output, atomic_directory])
def test_a_failed_writer_leaves_the_old_version_and_no_temporary(tmp_path, make):
    target = tmp_path / "old"
    target.mkdir() if make is atomic_directory else target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), make(target):
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    assert target.is_dir() if make is atomic_directory else target.read_bytes() == b"old"
