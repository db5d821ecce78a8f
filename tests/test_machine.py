"""Where a run trains: the CPU's description and the precision ``auto`` picks there."""

from __future__ import annotations

import logging
import platform

import pytest
import torch

from mnist_sweep import machine
from mnist_sweep.models import ConvNet

CPU = torch.device("cpu")
TINY = {"widths": [4, 8], "blocks": [1, 1], "padding": 1, "pool": True, "head": "gap"}
FASTER_BF16 = machine.Probe(fp32_ms=10.0, bf16_ms=7.0, measured_at="2026-01-01T00:00:00")
SLOWER_BF16 = machine.Probe(fp32_ms=8.0, bf16_ms=60.0, measured_at="2026-01-01T00:00:00")


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """An empty probe cache of this test's own, on a CPU that names native bf16."""
    monkeypatch.setenv("MNIST_SWEEP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(machine, "_memory", {})
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    return tmp_path / "cache" / machine.CACHE_FILE


def measured(monkeypatch, probe: machine.Probe) -> list[int]:
    """Make the probe return ``probe``; the list counts how often it ran."""
    calls: list[int] = []

    def measure(model, batch_size):
        calls.append(batch_size)
        return probe

    monkeypatch.setattr(machine, "measure", measure)
    return calls


def test_cpu_name_is_the_model_name_from_cpuinfo_or_the_platform_fallback(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\n")
    assert machine.cpu_name(cpuinfo) == "AMD EPYC 9B14"
    missing = machine.cpu_name(tmp_path / "absent")
    assert missing and missing == (platform.processor() or platform.machine())


def test_cpu_flags_read_x86_flags_and_arm_features(tmp_path):
    x86, arm = tmp_path / "x86", tmp_path / "arm"
    x86.write_text("model name\t: Xeon\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 sve\n")
    assert machine.cpu_flags(x86) == {"fpu", "avx2", "amx_bf16", "amx_tile"}
    assert "bf16" in machine.cpu_flags(arm)
    assert machine.cpu_flags(tmp_path / "absent") == frozenset()


def test_auto_picks_fp32_without_a_probe_on_a_cpu_without_native_bf16(cache, monkeypatch):
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    calls = measured(monkeypatch, FASTER_BF16)
    assert machine.choose_precision("auto", CPU, ConvNet(**TINY), 256) == ("fp32", None)
    assert calls == [] and not cache.exists()


@pytest.mark.parametrize(("probe", "used"), [(FASTER_BF16, "bf16"), (SLOWER_BF16, "fp32")])
def test_auto_follows_the_probe_on_a_cpu_with_native_bf16(cache, monkeypatch, probe, used):
    measured(monkeypatch, probe)
    assert machine.choose_precision("auto", CPU, ConvNet(**TINY), 256) == (used, probe)


def test_explicit_precisions_are_honoured_and_a_slower_bf16_is_warned_about(
    cache, monkeypatch, caplog
):
    calls = measured(monkeypatch, SLOWER_BF16)
    assert machine.choose_precision("fp32", CPU, ConvNet(**TINY), 256) == ("fp32", None)
    assert calls == []
    with caplog.at_level(logging.WARNING, logger="mnist_sweep.machine"):
        assert machine.choose_precision("bf16", CPU, ConvNet(**TINY), 256)[0] == "bf16"
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "bf16 7.5x slower than fp32" in warning and "precision=auto" in warning


def test_a_probe_is_measured_once_per_machine_then_read_from_the_cache(cache, monkeypatch):
    calls = measured(monkeypatch, FASTER_BF16)
    machine.choose_precision("auto", CPU, ConvNet(**TINY), 256)
    monkeypatch.setattr(machine, "_memory", {})  # a new process: only the file remains
    assert machine.choose_precision("auto", CPU, ConvNet(**TINY), 64) == ("bf16", FASTER_BF16)
    assert calls == [256] and machine.machine_key() in cache.read_text()


def test_a_capped_instruction_set_is_another_machine_for_the_probe(cache, monkeypatch):
    calls = measured(monkeypatch, FASTER_BF16)
    machine.choose_precision("auto", CPU, ConvNet(**TINY), 256)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in machine.cpu_capability()
    machine.choose_precision("auto", CPU, ConvNet(**TINY), 256)
    assert len(calls) == 2


def test_an_unwritable_cache_folder_still_decides(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("MNIST_SWEEP_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(machine, "_memory", {})
    monkeypatch.setattr(machine, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    measured(monkeypatch, SLOWER_BF16)
    assert machine.choose_precision("auto", CPU, ConvNet(**TINY), 256)[0] == "fp32"


def test_the_probe_leaves_the_runs_model_and_random_state_as_they_were():
    torch.manual_seed(0)
    model = ConvNet(**TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.get_rng_state()
    probe = machine.measure(model, 32)
    assert probe.fp32_ms > 0 and probe.bf16_ms > 0
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_describe_names_cpu_capability_torch_and_threads():
    info = machine.facts(CPU)
    assert info["cpu"] == machine.cpu_name() and info["gpu"] is None
    assert info["cpu_capability"].startswith(torch.backends.cpu.get_cpu_capability())
    assert info["torch"] == torch.__version__ and info["threads"] == torch.get_num_threads()


def test_an_unsteady_probe_decides_its_run_but_is_measured_again_next_time(cache, monkeypatch):
    unsteady = machine.Probe(10.0, 7.0, "2026-01-01T00:00:00", steady=False)
    calls = measured(monkeypatch, unsteady)
    assert machine.choose_precision("auto", CPU, ConvNet(**TINY), 256)[0] == "bf16"
    machine.choose_precision("auto", CPU, ConvNet(**TINY), 256)
    assert len(calls) == 2 and not cache.exists()
