"""The two ONNX files of a run and what is measured of them.

``fp32_onnx`` exports the run's model with the exporter PyTorch recommends
(``torch.onnx.export(..., dynamo=True)``) behind its normalisation, so the graph takes raw pixels
in [0, 1] with shape ``[N, 1, 28, 28]`` and a dynamic batch size. ``int8_onnx`` quantises it
statically with onnxruntime (QDQ, int8 weights per channel, uint8 activations), calibrated on
training images. ``Session`` runs a file with onnxruntime: its predictions and median latencies.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

EXPORTER = "torch.onnx.export(dynamo=True)"
INPUT, OUTPUT = "pixels", "log_probs"
BATCH = 1000  # images per onnxruntime call on the test set, and the batch whose latency counts


class Normalised(nn.Module):
    """A run's model behind its normalisation: raw pixels in [0, 1] in, its outputs out."""

    def __init__(self, model: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.model, self.mean, self.std = model, float(mean), float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def fp32_onnx(model: Normalised) -> tuple[bytes, int]:
    """The model as an fp32 ONNX file (bytes) with a dynamic batch axis, and its opset."""
    import onnx

    example = (torch.rand(2, 1, 28, 28),)
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        model,
        example,
        dynamo=True,
        dynamic_shapes=({0: batch},),
        input_names=[INPUT],
        output_names=[OUTPUT],
        verbose=False,
    )
    if program is None:  # the exporter wrote nothing it could hand back
        raise RuntimeError("torch.onnx.export returned no program")
    proto = program.model_proto
    onnx.checker.check_model(proto)
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return proto.SerializeToString(), opset


def int8_onnx(fp32: bytes, calibration: np.ndarray, chunk: int = 64) -> bytes:
    """``fp32`` statically quantised to int8 (QDQ), activation ranges calibrated on
    ``calibration`` (raw training pixels, ``[n, 1, 28, 28]``)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                {INPUT: calibration[i : i + chunk]} for i in range(0, len(calibration), chunk)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="mnist_sweep-export-") as tmp:
        src, pre, out = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(fp32)
        quiet = logging.getLogger()  # onnxruntime's quantiser warns on the root logger
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            quant_pre_process(str(src), str(pre))
            quantize_static(
                str(pre),
                str(out),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
        finally:
            quiet.setLevel(level)
        return out.read_bytes()


def weight_bytes(model: bytes) -> int:
    """Bytes of the tensors an ONNX file stores (its initializers: weights, biases, and for int8
    their scales and zero points), without the graph's structure and names."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(model).graph
    return sum(numpy_helper.to_array(t).nbytes for t in graph.initializer)


class Session:
    """One ONNX file in onnxruntime on the CPU, with ``threads`` intra-op threads."""

    def __init__(self, model: bytes, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: x})[0]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The class each image of ``x`` is predicted as, ``BATCH`` images per call."""
        return np.concatenate(
            [self.run(x[i : i + BATCH]).argmax(1) for i in range(0, len(x), BATCH)]
        )

    def median_ms(self, x: np.ndarray, repeats: int) -> float:
        """Median milliseconds of one call on ``x`` over ``repeats`` timed calls, after one."""
        self.run(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            self.run(x)
            times.append(time.perf_counter() - start)
        return round(1000 * statistics.median(times), 4)


@torch.no_grad()
def torch_predictions(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The PyTorch model's (fp32) predicted classes for raw pixels ``x``."""
    return np.concatenate(
        [
            model(torch.from_numpy(x[i : i + BATCH])).argmax(1).numpy()
            for i in range(0, len(x), BATCH)
        ]
    )
