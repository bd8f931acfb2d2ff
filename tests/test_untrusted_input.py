"""Files nnbook did not write are read as data, never run: a crafted data file gets one
line and exit 1 with nothing executed; a config that names a key twice is a config error."""

import gzip
import os
import pickle

import numpy as np
import pytest

from nnbook.cli import run
from nnbook.data.mnist import load_file
from nnbook.errors import ConfigError, NnbookError
from nnbook.config import load_config


class RunsAShellCommand:
    """What an attacker pickles: unpickling calls os.system with its argument."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write(path, triple, protocol=2):
    with gzip.open(path, "wb") as f:
        pickle.dump(triple, f, protocol=protocol)
    return path


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_a_crafted_data_file_runs_nothing_and_says_so_in_one_line(tmp_path, capsys, protocol):
    marker = tmp_path / "ran"
    evil = write(tmp_path / "evil.pkl.gz", ((RunsAShellCommand(marker), []), ([], []), ([], [])), protocol)
    with pytest.raises(NnbookError, match="refused, nothing was run"):
        load_file(evil)
    assert not marker.exists()
    code = run(["train", "configs/ch6_shallow.yaml", "--set", f"data={evil}", "--runs-dir", str(tmp_path / "runs"),
                "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and not marker.exists()
    assert "os.system" in err or "posix.system" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_books_files_still_load(tmp_path, mnist):
    # expand_mnist.py (Python 2, protocol 0): lists of image arrays and numpy integer labels.
    x, y = list(mnist.training.x[:30]), [np.int64(v) for v in mnist.training.y[:30]]
    splits = [(split.x[:100], split.y[:100]) for split in (mnist.validation, mnist.test)]
    book = write(tmp_path / "book.pkl.gz", ((x, y), *splits), protocol=0)
    got = load_file(book)
    assert np.array_equal(got.training.x, mnist.training.x[:30])
    assert got.training.y.tolist() == mnist.training.y[:30].tolist()
    assert got.test.x.shape == (100, 784) and np.array_equal(got.test.y, mnist.test.y[:100])



def test_a_key_named_twice_is_a_config_error_naming_it_and_both_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("name: twice\nlayers:\n  - {type: softmax, units: 10}\neta: 0.1\nepochs: 1\neta: 0.5\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value) == (f"{path}: key 'eta' appears twice in one mapping, on line 4 and line 6; keep one")


def test_a_key_named_twice_inside_a_layer_is_refused_too(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("name: twice\nlayers:\n  - type: softmax\n    units: 10\n    units: 3\neta: 0.1\nepochs: 1\n")
    with pytest.raises(ConfigError, match=r"key 'units' appears twice .* line 4 and line 5"):
        load_config(path)


def test_an_object_array_or_another_codec_is_refused_too(tmp_path):
    images = np.zeros((2, 784), np.float32)
    objects = write(tmp_path / "objects.pkl.gz", ((np.array([1.0, "x"], dtype=object), [0, 1]),
                                                  (images, [0, 1]), (images, [0, 1])))
    with pytest.raises(NnbookError, match=r"dtype object"):
        load_file(objects)
    # _codecs.encode is allowed for the latin1 bytes Python writes at protocols 0-2, with no other codec.
    rot13 = tmp_path / "codec.pkl.gz"
    with gzip.open(rot13, "wb") as f:
        f.write(b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(NnbookError, match=r"codec 'rot13', not latin1"):
        load_file(rot13)
