"""--device / --precision: resolution, placement, failures; CUDA-only checks skip on CPU machines."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from hasearch.artifacts import load_final_model
from hasearch.catalog import resolve_space
from hasearch.cli.main import main
from hasearch.data import DataSplits
from hasearch.device import CPU, Compute, resolve_compute, worker_device
from hasearch.errors import UserError
from hasearch.evaluate import evaluate_config
from hasearch.problem import Problem
from hasearch.search import run_search
from hasearch.settings import SearchSettings
from hasearch.train.trainer import Budget, train_child

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (CI has none; run on the GPU machine)")
without_cuda = pytest.mark.skipif(CUDA, reason="checks the behaviour of a machine without CUDA")


@pytest.fixture(scope="module")
def problem(digits: DataSplits) -> Problem:
    return Problem(resolve_space("mbconv"), digits, max_budget=1, seed=0)


@without_cuda
def test_auto_is_the_cpu_in_float32_without_cuda() -> None:
    assert resolve_compute("auto") == CPU == Compute("cpu", "fp32")
    assert resolve_compute("cpu", "bf16") == Compute("cpu", "bf16")


@without_cuda
def test_cuda_where_there_is_none_is_a_user_error() -> None:
    for device in ("cuda", "cuda:1"):
        with pytest.raises(UserError, match="CUDA is not available"):
            resolve_compute(device)


@pytest.mark.parametrize(("device", "precision"), [("gpu", None), ("cpu:1", None), ("cuda:x", None), ("cpu", "fp16"), (3, None)])
def test_malformed_device_or_precision_is_a_user_error(device: object, precision: str | None) -> None:
    with pytest.raises(UserError, match="--device|--precision"):
        resolve_compute(device, precision)  # type: ignore[arg-type]
    with pytest.raises(UserError):
        SearchSettings(space="mbconv", dataset="digits", max_trials=1, device=device, precision=precision)  # type: ignore[arg-type]


@without_cuda
def test_cli_refuses_cuda_in_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["search", "--space", "mbconv", "--dataset", "digits", "--trials", "1", "--out", str(out)]
    assert main([*argv, "--device", "cuda"]) == 2
    assert main([*argv, "--trials-per-gpu", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "CUDA is not available" in err[0] and "--trials-per-gpu" in err[1]
    assert not out.exists()


def test_workers_take_gpus_round_robin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    gpu = Compute("cuda:0", "bf16")
    assert [worker_device(gpu, k).device for k in range(4)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert [worker_device(gpu, k, trials_per_gpu=2).device for k in range(6)] == ["cuda:0", "cuda:0", "cuda:1", "cuda:1", "cuda:0", "cuda:0"]
    assert worker_device(CPU, 5) == CPU


def test_bf16_precision_autocasts_the_training_step(problem: Problem) -> None:
    """bf16 changes the training trajectory (autocast is applied) but keeps float32 master
    weights and learns as well."""
    config = problem.space.baseline
    results = {}
    for name, compute in (("fp32", CPU), ("bf16", Compute("cpu", "bf16"))):
        model = problem.build(config)
        results[name] = (train_child(model, config, problem.data, Budget(8), seed=0, compute=compute), model)
    assert results["bf16"][0].val_loss != results["fp32"][0].val_loss
    assert all(p.dtype == torch.float32 for p in results["bf16"][1].parameters())
    assert results["bf16"][0].val_accuracy > 0.8 and abs(results["bf16"][0].val_accuracy - results["fp32"][0].val_accuracy) < 0.05


def test_out_of_memory_is_a_failed_trial_with_a_clear_error(problem: Problem, monkeypatch: pytest.MonkeyPatch) -> None:
    def oom(self, config, *, seed=None):  # type: ignore[no-untyped-def]
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with monkeypatch.context() as patch:
        patch.setattr(Problem, "build", oom)
        outcome = evaluate_config(problem, problem.space.baseline, 1, seed=0)
    assert outcome.failed and math.isinf(outcome.loss)
    assert (outcome.error or "").startswith("out of memory on cpu: the configuration does not fit")
    assert not evaluate_config(problem, problem.space.baseline, 1, seed=0).failed  # the search goes on


def test_trials_record_their_device(tmp_path: Path) -> None:
    settings = SearchSettings(space="mbconv", dataset="digits", max_trials=2, max_budget=1, compare_baseline=False, device="cpu")
    run_search(settings, str(tmp_path / "run"))
    from hasearch.store import RunDir

    run = RunDir.open(tmp_path / "run", read_only=True)
    try:
        assert [t.metrics["device"] for t in run.db.trials()] == ["cpu", "cpu"]
    finally:
        run.close()


@needs_cuda
@pytest.mark.parametrize("strategy", ["random", "autohas", "nes"])
def test_search_trains_on_the_gpu_and_loads_on_the_cpu(tmp_path: Path, strategy: str) -> None:
    space, budget = ("mobilenetv2", "20s") if strategy == "nes" else ("mbconv", "20s")
    argv = ["search", "--space", space, "--strategy", strategy, "--dataset", "digits", "--epochs", "1", "--device", "cuda",
            "--out", str(tmp_path / "run"), "--budget", budget]  # fmt: skip
    argv += ["--target-macs", "200000"] if strategy == "nes" else ["--trials", "2"] if strategy == "random" else []
    assert main(argv) == 0
    model, _ = load_final_model(tmp_path / "run")  # saved from GPU tensors, loaded onto the CPU
    assert next(model.parameters()).device.type == "cpu"


@needs_cuda
def test_seeded_gpu_runs_repeat_their_trial_sequence(tmp_path: Path) -> None:
    losses = []
    for k in range(2):
        settings = SearchSettings(space="mbconv", dataset="digits", max_trials=3, max_budget=1, compare_baseline=False, device="cuda")
        run_search(settings, str(tmp_path / f"run{k}"))
        from hasearch.store import RunDir

        run = RunDir.open(tmp_path / f"run{k}", read_only=True)
        losses.append([(dict(t.config), t.metrics["device"]) for t in run.db.trials()])
        run.close()
    assert losses[0] == losses[1]


@needs_cuda
def test_cpu_only_methods_refuse_an_explicit_gpu(tmp_path: Path) -> None:
    argv = ["search", "--space", "darts", "--strategy", "dha", "--dataset", "digits", "--budget", "5s", "--device", "cuda", "--out", str(tmp_path / "r")]
    assert main(argv) == 2


def test_checkpointed_rng_state_restores_the_cpu_stream_and_reads_old_checkpoints() -> None:
    from hasearch.device import global_rng_state, restore_global_rng_state

    blob = global_rng_state()
    first = torch.rand(5)
    torch.rand(3)  # the stream moves on after the checkpoint
    restore_global_rng_state(blob)
    assert torch.equal(torch.rand(5), first)
    old = {"torch_rng": blob["torch_rng"]}  # a checkpoint written before GPU states were kept
    restore_global_rng_state(old)
    assert torch.equal(torch.rand(5), first)


@needs_cuda
def test_checkpointed_rng_state_restores_the_gpu_stream() -> None:
    from hasearch.device import global_rng_state, restore_global_rng_state

    torch.rand(1, device="cuda")  # CUDA in use, as in a search on the GPU
    blob = global_rng_state()
    assert "cuda_rng" in blob
    first = torch.rand(5, device="cuda")
    torch.rand(3, device="cuda")
    restore_global_rng_state(blob)
    assert torch.equal(torch.rand(5, device="cuda"), first)
