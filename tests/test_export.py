"""``python -m mnist_sweep.export``: both ONNX files of a run, checked against the PyTorch model
with onnxruntime; a check that fails is reported; bad folders are refused whole."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mnist_sweep import artifacts, data, export, machine, models
from mnist_sweep.export import __main__ as cli
from mnist_sweep.export import onnx_files
from mnist_sweep.run import execute
from tests.conftest import CONF, QUICK, run_module
from tests.helpers.runs import fake_run

FILES = (artifacts.ONNX, artifacts.ONNX_INT8, artifacts.EXPORT)
FAST = ["--repeats", "3"]  # latency measured, but briefly


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_root) -> Path:
    """A sweep folder: a run trained in this process (8,192 images, 2 epochs: accurate enough
    for int8 to keep its accuracy), a copy of it, and a copy marked interrupted."""
    root = tmp_path_factory.mktemp("export") / "sweep"
    overrides = [*QUICK, "data.train_subset=8192", "trainer.epochs=2"]
    threads = torch.get_num_threads()
    with initialize_config_dir(config_dir=str(CONF)):
        cfg = compose("config", overrides=[f"data.root={mnist_root}", *overrides])
    (root / "0" / artifacts.HYDRA_DIR).mkdir(parents=True)
    OmegaConf.save(cfg, root / "0" / artifacts.CONFIG)
    execute(cfg, root / "0", {"job_num": 0, "overrides": overrides})
    torch.set_num_threads(threads)
    (root / artifacts.MULTIRUN).write_text("hydra: {}\n")
    shutil.copytree(root / "0", root / "1")
    shutil.copytree(root / "0", root / "2")
    mark(root / "2", status="interrupted", epochs_run=1)
    return root


def mark(run_dir: Path, **fields) -> None:
    record = json.loads((run_dir / artifacts.METRICS).read_text())
    artifacts.write_json(run_dir / artifacts.METRICS, record | fields)


def copy(src: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(src, tmp_path / src.name))


def raw_test_set(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images as raw pixels in [0, 1], read from the IDX files themselves."""
    folder = data.raw_dir(root)
    x = data.read_idx(folder / "t10k-images-idx3-ubyte").astype(np.float32) / 255
    return x[:, None], data.read_idx(folder / "t10k-labels-idx1-ubyte").astype(np.int64)


@torch.no_grad()
def pytorch_predictions(run_dir: Path, x: np.ndarray) -> np.ndarray:
    cfg = yaml.safe_load((run_dir / artifacts.CONFIG).read_text())["data"]
    model = models.load(run_dir / artifacts.CHECKPOINT)
    normalised = (torch.from_numpy(x) - cfg["mean"]) / cfg["std"]
    return model(normalised).argmax(1).numpy()


def onnx_predictions(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return np.concatenate(
        [session.run(None, {name: x[i : i + 2500]})[0] for i in range(0, len(x), 2500)]
    ).argmax(1)


def test_a_sweep_folder_exports_every_completed_run_checked_against_pytorch(
    trained, tmp_path, mnist_root, capsys
):
    sweep = copy(trained, tmp_path)
    assert cli.main([str(sweep), *FAST]) == 0
    out, err = capsys.readouterr()
    assert f"skipped {sweep / '2'}: interrupted" in err
    assert not any((sweep / "2" / name).exists() for name in FILES)
    x, y = raw_test_set(mnist_root)
    reference = pytorch_predictions(sweep / "0", x)  # job 1 holds the same model
    for job in ("0", "1"):
        run_dir = sweep / job
        assert f"exported {run_dir} " in out
        report = json.loads((run_dir / artifacts.EXPORT).read_text())
        assert report["status"] == "ok" and report["problems"] == []
        assert report["exporter"] == "torch.onnx.export(dynamo=True)" and report["opset"] >= 18
        assert report["machine"]["cpu"] == machine.cpu_name()
        assert report["machine"]["cpu_capability"] == machine.cpu_capability()
        assert report["pytorch"]["accuracy"] == pytest.approx((reference == y).mean())
        for name, allowed in ((artifacts.ONNX, 5), (artifacts.ONNX_INT8, 500)):
            path, measured = run_dir / name, report["files"][name]
            pred = onnx_predictions(path, x)  # raw pixels: the normalisation is in the graph
            assert (pred != reference).sum() == measured["disagreements"] <= allowed, name
            assert measured["accuracy"] == pytest.approx((pred == y).mean())
            assert measured["bytes"] == path.stat().st_size
            assert measured["latency_ms_1"] > 0 and measured["latency_ms_1000"] > 0
            graph = onnx.load(str(path)).graph
            (pixels,) = graph.input
            dims = pixels.type.tensor_type.shape.dim
            assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for n in (1, 7):  # any batch size
                batch = np.random.default_rng(n).random((n, 1, 28, 28), dtype=np.float32)
                assert session.run(None, {pixels.name: batch})[0].shape == (n, 10)
        assert "model.int8.onnx" in (run_dir / artifacts.RUN_REPORT).read_text()  # rebuilt
        int8 = onnx.load(str(run_dir / artifacts.ONNX_INT8))
        assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in int8.graph.node}
        assert (
            report["files"][artifacts.ONNX_INT8]["bytes"] < report["files"][artifacts.ONNX]["bytes"]
        )
        fp32_weights = report["files"][artifacts.ONNX]["weight_bytes"]
        assert fp32_weights > 2 * report["pytorch"]["params"]  # the weights, 4 bytes each
        assert report["files"][artifacts.ONNX_INT8]["weight_bytes"] < fp32_weights / 2


def test_a_last_checkpoint_export_is_calibrated_on_training_images_and_its_checks_reported(
    trained, tmp_path, mnist_root, monkeypatch, capsys
):
    seen = []
    quantise = onnx_files.int8_onnx

    def spy(fp32, calibration, *args):
        seen.append(calibration.copy())
        return quantise(fp32, calibration, *args)

    monkeypatch.setattr(onnx_files, "int8_onnx", spy)
    monkeypatch.setattr(export, "FP32_MAX_DISAGREE", -1)  # every check now fails
    monkeypatch.setattr(export, "INT8_MAX_DROP", -1.0)
    run_dir = copy(trained / "2", tmp_path)  # interrupted
    assert cli.main([str(run_dir), "--last-checkpoint", *FAST]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"problem: {run_dir}: ") and "model.int8.onnx scores" in line
    report = json.loads((run_dir / artifacts.EXPORT).read_text())
    assert report["status"] == "problem" and len(report["problems"]) == 2
    assert report["checkpoint"] == "last checkpoint: the run is interrupted after 1 of 2 epochs"
    assert "disagrees with the PyTorch model" in report["problems"][0]
    (calibration,) = seen
    assert calibration.shape == (export.CALIBRATION, 1, 28, 28)
    test_x, _ = raw_test_set(mnist_root)
    folder = data.raw_dir(mnist_root)
    train_x = data.read_idx(folder / "train-images-idx3-ubyte").astype(np.float32) / 255
    train = {image.tobytes() for image in train_x}
    test = {image.tobytes() for image in test_x[:, 0]}
    assert all(image[0].tobytes() in train for image in calibration)
    assert not any(image[0].tobytes() in test for image in calibration)


def test_an_unfinished_run_is_refused_without_last_checkpoint(trained, tmp_path, capsys):
    run_dir = copy(trained / "2", tmp_path)
    assert cli.main([str(run_dir), *FAST]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {run_dir}: the run is interrupted after 1 of 2 epochs")
    assert "--last-checkpoint" in line
    assert not any((run_dir / name).exists() for name in FILES)


def test_a_folder_that_cannot_be_written_keeps_no_file(trained, tmp_path, capsys):
    run_dir = copy(trained / "0", tmp_path)
    (run_dir / artifacts.EXPORT).mkdir()  # both ONNX files are written, then export.json fails
    assert cli.main([str(run_dir), *FAST]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: could not write {run_dir / artifacts.EXPORT}")
    assert not (run_dir / artifacts.ONNX).exists() and not (run_dir / artifacts.ONNX_INT8).exists()
    assert not [p for p in run_dir.iterdir() if p.name.startswith((".model", ".export"))]


UNSUPPORTED = '''
import torch
from torch import nn


class Zeta(nn.Module):
    """A model with an operator ONNX has no function for."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return torch.log_softmax(torch.special.zeta(self.fc(x.flatten(1)).abs() + 2, 2.0), 1)
'''


def test_a_model_that_does_not_export_is_refused_in_one_line(
    trained, tmp_path, monkeypatch, capsys
):
    (tmp_path / "zeta_models.py").write_text(UNSUPPORTED)
    monkeypatch.syspath_prepend(str(tmp_path))
    run_dir = copy(trained / "0", tmp_path)
    cfg = yaml.safe_load((run_dir / artifacts.CONFIG).read_text())
    cfg["model"], cfg["allowed_targets"] = {"_target_": "zeta_models.Zeta"}, ["zeta_models.*"]
    (run_dir / artifacts.CONFIG).write_text(yaml.safe_dump(cfg))
    model = models.build(cfg["model"], allowed=cfg["allowed_targets"])
    models.save(run_dir / artifacts.CHECKPOINT, model, cfg["model"])
    assert cli.main([str(run_dir), *FAST]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {run_dir}: the model (zeta_models.Zeta) does not export")
    assert "zeta" in line.split("does not export", 1)[1]
    assert not any((run_dir / name).exists() for name in FILES)


def test_folders_without_a_model_are_refused_before_anything_is_written(trained, tmp_path, capsys):
    good = copy(trained / "0", tmp_path)
    empty = fake_run(tmp_path / "refused", status="over_budget")
    for args, named in (
        ([empty], f"error: {empty} holds no model.pt"),
        ([good, empty], f"error: {empty} holds no model.pt"),  # checked before good is exported
        ([tmp_path / "absent"], "is not a folder"),
        ([tmp_path / "refused" / ".hydra"], "holds no completed run"),
    ):
        assert cli.main([str(a) for a in args]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("error: ") and named in line, line
    assert not any((good / name).exists() for name in FILES)


def test_the_command_without_its_extra_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime fails
    assert cli.main([str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: exporting needs onnxruntime") and "'.[export]'" in line


def test_the_command_line_refuses_in_one_line_without_a_traceback(tmp_path):
    fake_run(tmp_path / "run", status="failed")
    done = run_module("mnist_sweep.export", "run", cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: run holds no model.pt: nothing to export")


def fake_export(run_dir: Path, int8_acc: float, status: str = "ok") -> None:
    """An export.json as the command writes it, with the figures the pages show."""
    files = {
        artifacts.ONNX: {"bytes": 92_440, "accuracy": 0.9912},
        artifacts.ONNX_INT8: {"bytes": 50_310, "accuracy": int8_acc},
    }
    problems = ["model.int8.onnx scores too low"] if status == "problem" else []
    report = {"status": status, "problems": problems, "files": files}
    artifacts.write_json(run_dir / artifacts.EXPORT, report)


def test_the_pages_show_int8_accuracy_and_size_where_a_run_was_exported(tmp_path, capsys):
    from mnist_sweep.report import write_leaderboard, write_run_report
    from mnist_sweep.report.__main__ import main as report_main
    from tests.helpers.runs import sweep

    jobs = {s: {"overrides": [f"trainer.seed={s}"], "seed": s} for s in range(3)}
    folder = sweep(tmp_path / "multirun", "2026-01-02/03-04-05-000001", jobs)
    write_leaderboard(folder, run_reports=False)
    assert "int8 acc" not in (folder / artifacts.LEADERBOARD).read_text()  # none exported yet
    fake_export(folder / "0", 0.9900)
    fake_export(folder / "1", 0.9850, status="problem")
    write_leaderboard(folder, run_reports=False)
    page = (folder / artifacts.LEADERBOARD).read_text()
    assert 'data-key="int8_acc"' in page and 'data-key="int8_bytes"' in page
    csv = (folder / artifacts.LEADERBOARD_CSV).read_text().splitlines()
    header = csv[0].split(",")
    acc, size = header.index('"int8_test_acc"'), header.index('"int8_bytes"')
    assert [row.split(",")[acc] for row in csv[1:]] == ["0.99", "0.985", '""']
    assert [row.split(",")[size] for row in csv[1:]] == ["50310", "50310", '""']
    report = write_run_report(folder / "1").read_text()
    assert "model.int8.onnx" in report and "98.50" in report and "50.3\u00a0kB" in report
    assert "check failed:" in report and "model.int8.onnx scores too low" in report
    assert "model.int8.onnx" not in write_run_report(folder / "2").read_text()
    assert report_main(["front", str(folder), "--min-seeds", "3"]) == 0
    table = (folder / "front.md").read_text()
    assert "| int8 test accuracy, mean | int8 size |" in table
    assert "98.75 (2 of 3 seeds) | 50.3\u00a0kB |" in table
    capsys.readouterr()


def test_the_front_exports_the_runs_it_shows_when_asked(trained, tmp_path, capsys):
    from mnist_sweep.report.__main__ import main as report_main

    sweep = copy(trained, tmp_path)
    shutil.rmtree(sweep / "1")  # one run of the recipe: one export
    assert report_main(["front", str(sweep), "--min-seeds", "1", "--bounds", "20000"]) == 0
    assert "int8" not in (sweep / "front.md").read_text()
    assert (
        report_main(["front", str(sweep), "--min-seeds", "1", "--bounds", "20000", "--export"]) == 0
    )
    report = json.loads((sweep / "0" / artifacts.EXPORT).read_text())
    assert not (sweep / "2" / artifacts.EXPORT).exists()  # interrupted: not on the front
    int8 = report["files"][artifacts.ONNX_INT8]
    row = (sweep / "front.md").read_text().splitlines()[2]
    assert f"| {100 * int8['accuracy']:.2f} | {int8['bytes'] / 1000:.1f}\u00a0kB |" in row
    capsys.readouterr()


def test_confirm_refuses_export_without_its_extra_before_training(monkeypatch, capsys):
    from mnist_sweep import confirm

    monkeypatch.setitem(sys.modules, "onnx", None)
    assert confirm.main(["sqlite:///nowhere/study.db", "--export"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --export: exporting needs onnx") and "'.[export]'" in line
