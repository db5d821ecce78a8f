"""What a run runs on, and the numeric precision that is fastest there.

``device.precision: auto`` picks bf16 only where bf16 is measured faster: on a CPU whose flags
name native bf16 instructions (``avx512_bf16``, ``amx_bf16``, Arm's ``bf16``) a short timed probe
trains the run's own model for a few steps at each precision; on a CPU without them bf16 autocast
is emulated (several times slower) and fp32 is chosen without a probe. On CUDA, bf16 where the
card supports it natively. A probe's result is cached per machine, torch version and thread count
in the user cache folder (``$MNIST_SWEEP_CACHE``, else ``$XDG_CACHE_HOME/mnist_sweep``, else
``~/.cache/mnist_sweep``), so it is paid once, not per run or per trial.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from mnist_sweep import artifacts

log = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})  # x86 flags, Arm features
CACHE_FILE = "precision.json"
DISPATCH_LIMITS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")  # variables that cap the ISA used
# The probe: a warm-up step, then ROUNDS alternating timings of STEPS steps per precision on a
# batch of at most PROBE_BATCH images; the fastest round of each is compared (another process can
# only slow a round down). bf16 must win by MIN_SPEEDUP. A probe whose rounds of one precision
# differ by more than STEADY times was disturbed: it decides this run but is not cached.
PROBE_BATCH, STEPS, ROUNDS, MIN_SPEEDUP, STEADY = 128, 2, 4, 1.05, 1.5


def cpu_name(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name (Linux), else what ``platform`` knows (often just ``x86_64``)."""
    value = cpuinfo_field(cpuinfo, "model name")
    return value or platform.processor() or platform.machine()


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``); empty where unknown."""
    value = cpuinfo_field(cpuinfo, "flags") or cpuinfo_field(cpuinfo, "Features")
    return frozenset(value.split())


def cpuinfo_field(cpuinfo: Path, name: str) -> str:
    """The first value of ``name`` in a cpuinfo file (read once per process); empty if none."""
    for line in _cpuinfo_lines(cpuinfo):
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


@cache
def _cpuinfo_lines(cpuinfo: Path) -> tuple[str, ...]:
    try:
        return tuple(cpuinfo.read_text(errors="replace").splitlines())
    except OSError:
        return ()


def isa_capped() -> bool:
    """True when an environment variable caps the instruction sets torch or oneDNN use."""
    return any(k in os.environ for k in DISPATCH_LIMITS)


def cpu_kind() -> str:
    """A short name of the CPU kind for file and marker names: ``avx512``, ``avx2-capped``."""
    kind = torch.backends.cpu.get_cpu_capability().lower()
    return f"{kind}-capped" if isa_capped() else kind


def cpu_capability() -> str:
    """The vector instruction set torch's CPU kernels dispatch to (``AVX2``, ``AVX512``, ...),
    with any environment variable that caps it: ``AVX512 (ONEDNN_MAX_CPU_ISA=AVX2)``."""
    limits = [f"{k}={os.environ[k]}" for k in DISPATCH_LIMITS if k in os.environ]
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{capability} ({', '.join(limits)})" if limits else capability


def facts(device: torch.device) -> dict[str, str | int | None]:
    """What a run records about where it ran: CPU model and capability, GPU, torch, threads."""
    return {
        "cpu": cpu_name(),
        "cpu_capability": cpu_capability(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


@dataclass(frozen=True)
class Probe:
    """Milliseconds of one training step at each precision (the fastest round), and when it was
    measured."""

    fp32_ms: float
    bf16_ms: float
    measured_at: str
    steady: bool = True  # every round of each precision within STEADY times its fastest

    @property
    def bf16_speedup(self) -> float:
        return self.fp32_ms / self.bf16_ms

    def summary(self) -> str:
        s = self.bf16_speedup
        return f"bf16 {s:.2f}x faster" if s >= 1 else f"bf16 {1 / s:.1f}x slower than fp32"


def choose_precision(
    asked: str, device: torch.device, model: nn.Module, batch_size: int
) -> tuple[str, Probe | None]:
    """The precision a run trains at, and the probe that decided it (None where none ran).

    ``fp32`` and ``bf16`` are honoured as asked; ``bf16`` on a CPU where it measured slower logs
    one warning with the measured ratio. ``auto`` resolves as the module docstring says.
    """
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        return (("bf16" if native else "fp32") if asked == "auto" else asked), None
    if device.type != "cpu":
        return ("fp32" if asked == "auto" else asked), None
    if asked == "fp32" or (asked == "auto" and not NATIVE_BF16_FLAGS & cpu_flags()):
        return "fp32", None
    probe = cached_probe(model, batch_size)
    if asked == "bf16":
        if probe.bf16_speedup < 1:
            log.warning(
                "device.precision=bf16 as asked, but on this CPU (%s, %s) %s; "
                "device.precision=auto would train at fp32.",
                cpu_name(),
                cpu_capability(),
                probe.summary(),
            )
        return "bf16", probe
    return ("bf16" if probe.bf16_speedup >= MIN_SPEEDUP else "fp32"), probe


def cache_dir() -> Path:
    if folder := os.environ.get("MNIST_SWEEP_CACHE"):
        return Path(folder)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnist_sweep"


def machine_key() -> str:
    """What a probe's result holds for: this CPU, its dispatch limits, torch and thread count."""
    parts = [cpu_name(), cpu_capability(), f"torch {torch.__version__}"]
    return " | ".join([*parts, f"{torch.get_num_threads()} threads"])


def cached_probe(model: nn.Module, batch_size: int) -> Probe:
    """This machine's probe from the cache folder, else measured now and stored there."""
    key = machine_key()
    if hit := _memory.get(key):
        return hit
    path = cache_dir() / CACHE_FILE
    entries = _read_cache(path)
    try:
        probe = Probe(**entries[key])
    except (KeyError, TypeError):
        probe = measure(model, batch_size)
        log.info("precision probe on %s: %s", key, probe.summary())
        if not probe.steady:
            log.info("the probe's timings were unsteady (another process busy?): not cached")
            return probe
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            artifacts.write_json(path, {**_read_cache(path), key: asdict(probe)})
        except OSError as exc:  # a read-only home: measured again next time
            log.debug("precision probe not cached in %s: %s", path, exc)
    _memory[key] = probe
    return probe


_memory: dict[str, Probe] = {}


def _read_cache(path: Path) -> dict:
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def measure(model: nn.Module, batch_size: int) -> Probe:
    """Time training steps of a copy of ``model`` at fp32 and bf16 on random CPU images.

    The run's own model, RNG state and weights are left as they were.
    """
    with torch.random.fork_rng(devices=[]):
        probe_model = copy.deepcopy(model).cpu().to(memory_format=torch.channels_last)
        g = torch.Generator().manual_seed(0)
        n = min(batch_size, PROBE_BATCH)
        x = torch.randn(n, 1, 28, 28, generator=g).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (n,), generator=g)
        optimizer = torch.optim.SGD(probe_model.parameters(), lr=1e-3)

        def steps(dtype: torch.dtype | None) -> float:
            start = time.perf_counter()
            for _ in range(STEPS):
                with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=bool(dtype)):
                    loss = F.cross_entropy(probe_model(x).float(), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            return (time.perf_counter() - start) * 1000 / STEPS

        probe_model.train()
        steps(None), steps(torch.bfloat16)  # warm-up: first calls pick and build kernels
        fp32, bf16 = [], []
        for _ in range(ROUNDS):
            fp32.append(steps(None))
            bf16.append(steps(torch.bfloat16))
    return Probe(
        round(min(fp32), 3),
        round(min(bf16), 3),
        datetime.now().isoformat(timespec="seconds"),
        steady=max(fp32) <= STEADY * min(fp32) and max(bf16) <= STEADY * min(bf16),
    )
