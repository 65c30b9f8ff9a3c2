"""Where networks train and in which precision: ``--device`` and ``--precision``.

:class:`Compute` is resolved once per process from the user's words (``auto``, ``cpu``,
``cuda``, ``cuda:N``; ``fp32``, ``bf16``) and travels with the :class:`~hasearch.problem.Problem`:
the data are moved to its device once, every network is built there, and training steps
run under its autocast. On the CPU the default is float32 and nothing changes; on CUDA the
default is bfloat16 autocast with float32 master weights (the parameters, the optimizer
state, AutoHAS's temporary weights W* and DHA's hypergradient stay float32: autocast only
lowers the precision of the forward's matrix products and convolutions).

Placement of trials (:func:`worker_device`): the pool's worker k trains on GPU
``k // trials_per_gpu`` modulo the visible GPUs; Ray requests ``1 / trials_per_gpu`` GPUs
per trial and lets Ray place it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from hasearch.errors import UserError
from hasearch.settings import PRECISIONS, check_device_words

_DEVICE = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


@dataclass(frozen=True)
class Compute:
    """A resolved device (``cpu`` or ``cuda:N``) and training precision (``fp32``, ``bf16``)."""

    device: str = "cpu"
    precision: str = "fp32"

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The training forward's autocast dtype; None: float32 (no autocast)."""
        return torch.bfloat16 if self.precision == "bf16" else None

    @contextmanager
    def autocast(self) -> Iterator[None]:
        """The training forward's autocast (a no-op in fp32)."""
        with torch.autocast(self.torch_device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            yield

    def describe(self) -> str:
        name = torch.cuda.get_device_name(self.torch_device) if self.is_cuda else "CPU"
        return f"{self.device} ({name}), {self.precision}"


CPU = Compute()


def resolve_compute(device: str = "auto", precision: str | None = None) -> Compute:
    """The :class:`Compute` for ``--device`` / ``--precision`` on this machine.

    ``auto`` is ``cuda:0`` when CUDA is available, else ``cpu``; ``precision`` defaults to
    ``bf16`` on CUDA (where the GPU supports it) and ``fp32`` on the CPU.

    Raises:
        UserError: a malformed device, CUDA asked for where there is none, a GPU index out
            of range, an unknown precision, or bf16 on a GPU without it.
    """
    check_device_words(device, precision)
    match = _DEVICE.match(device)
    assert match is not None
    kind, index = match.group(1), int(match.group(2) or 0)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: CUDA is not available on this machine (torch {torch.__version__}); use --device cpu")
        if index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s) (cuda:0 ...)")
    resolved = f"cuda:{index}" if kind == "cuda" else "cpu"
    if precision is None:
        precision = "bf16" if kind == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError(f"--precision bf16: {torch.cuda.get_device_name(index)} does not support bfloat16; use fp32")
    assert precision in PRECISIONS
    return Compute(resolved, precision)


def worker_device(compute: Compute, worker: int, *, trials_per_gpu: int = 1) -> Compute:
    """The device of pool worker ``worker`` (0-based): GPUs round robin, ``trials_per_gpu``
    workers sharing one GPU; CPU runs stay on the CPU."""
    if not compute.is_cuda:
        return compute
    gpus = max(1, torch.cuda.device_count())
    return Compute(f"cuda:{(worker // trials_per_gpu) % gpus}", compute.precision)


def make_deterministic(compute: Compute) -> None:
    """The deterministic flags torch offers on CUDA: no cuDNN autotuning (it may pick other
    kernels per run), deterministic cuDNN kernels, no TF32. Atomic-add kernels in the
    backward of some operations (e.g. index_add, scatter_add, adaptive pooling) remain
    nondeterministic on CUDA: torch gives no deterministic variant for all of them without
    ``torch.use_deterministic_algorithms``, which raises on those operations, so it is not set."""
    if not compute.is_cuda:
        return
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA (or other accelerator) out-of-memory error."""
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def release_memory(compute: Compute) -> None:
    """Return cached blocks to the GPU after a failed trial (no-op on the CPU)."""
    if compute.is_cuda:
        torch.cuda.empty_cache()


def global_rng_state() -> dict[str, object]:
    """The global torch random states a resumable checkpoint keeps: the CPU generator's
    (``torch_rng``) and, once CUDA is in use in this process, every visible GPU's
    (``cuda_rng``: dropout, mixup and other random operations on a GPU draw from these)."""
    state: dict[str, object] = {"torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def restore_global_rng_state(blob: dict[str, object]) -> None:
    """Set the random states :func:`global_rng_state` saved into ``blob``. GPU states are
    restored only where the same number of GPUs is visible (a checkpoint written on a GPU
    machine resumes on a CPU-only one, with fresh GPU streams)."""
    torch.set_rng_state(blob["torch_rng"])  # type: ignore[arg-type]
    cuda = blob.get("cuda_rng")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():  # type: ignore[arg-type]
        torch.cuda.set_rng_state_all(cuda)  # type: ignore[arg-type]
