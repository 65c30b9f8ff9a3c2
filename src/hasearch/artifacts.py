"""Save and load the final model of a run (weights as a state_dict + what rebuilds it)."""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hasearch.catalog import definition_for
from hasearch.data import MAX_IMAGE_SIDE, DataSplits
from hasearch.errors import RunDirError, SpaceError, damaged_file
from hasearch.space import load_space
from hasearch.store.run_dir import RunDir

WEIGHTS = "final/model.pt"
SPEC = "final/model.json"


def save_final_model(run: RunDir, model: nn.Module, config: Mapping[str, Any], data: DataSplits) -> None:
    """Write the weights and the architecture/normalisation needed to rebuild the model."""
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    with run.writing(run.file(WEIGHTS)) as tmp:
        torch.save(state, tmp)
    run.write_json(
        SPEC,
        {
            "config": dict(config),
            "space_file": "space.yaml",
            "input_shape": list(data.input_shape),
            "num_classes": data.num_classes,
            "classes": list(data.classes),
            "mean": list(data.mean),
            "std": list(data.std),
        },
    )


def load_final_model(run_dir: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The final model of a run (eval mode) and its spec (config, classes, normalisation).

    Weights are loaded with ``torch.load(..., weights_only=True)``: a file that carries
    anything but tensors (a pickle payload) is refused and nothing in it runs.

    Raises:
        RunDirError: if the run, its spec or its weights are missing, damaged or refused.
    """
    run = RunDir.open(run_dir, read_only=True)
    spec = run.read_json(SPEC)
    try:
        _check_spec(spec)
        definition = definition_for(load_space(run.file(spec["space_file"])))
        model = definition.build(spec["config"], tuple(spec["input_shape"]), int(spec["num_classes"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise damaged_file(run.file(SPEC), exc) from None
    try:
        model.load_state_dict(load_weights(run.file(WEIGHTS)))
    except RuntimeError as exc:  # missing, unexpected or differently shaped tensors
        raise RunDirError(f"{str(run.file(WEIGHTS))!r} does not fit the model {SPEC} describes ({_last_line(exc)})") from None
    return model.eval(), spec


def _check_spec(spec: Any) -> None:
    """ValueError unless the spec's shapes agree: a (channels, height, width) input, one class
    name per output and one mean and standard deviation per channel."""
    channels, height, width = (int(v) for v in spec["input_shape"])
    if not (channels in (1, 3) and 1 <= min(height, width) and max(height, width) <= MAX_IMAGE_SIDE) or int(spec["num_classes"]) < 2:
        raise ValueError(f"input shape {spec['input_shape']} or {spec['num_classes']} classes")
    if len(spec["classes"]) != int(spec["num_classes"]):
        raise ValueError(f"{len(spec['classes'])} class names for {spec['num_classes']} classes")
    numbers = [*spec["mean"], *spec["std"]] if isinstance(spec["mean"], list) and isinstance(spec["std"], list) else None
    if not numbers or len(numbers) != 2 * channels or not all(_finite(v) for v in numbers) or min(spec["std"]) <= 0:
        raise ValueError(f"mean {spec['mean']} and std {spec['std']} for {channels} channels")
    if not isinstance(spec["config"], dict) or not all(_finite(v) for v in spec["config"].values() if isinstance(v, float)):
        raise ValueError(f"config {str(spec['config'])[:120]} is not a mapping of finite values")


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@contextmanager
def restoring(path: Path) -> Iterator[None]:
    """Around a single-run strategy's restore from its checkpoint at ``path``: a checkpoint
    of another search, space or version (missing keys, tensors of other shapes, values of the
    wrong type or outside the space) becomes one RunDirError naming the file."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError, SpaceError) as exc:
        raise RunDirError(
            f"{str(path)!r} does not fit this run's search ({type(exc).__name__}: {_last_line(exc)}); "
            "delete it to start the search over"
        ) from None


def _last_line(exc: BaseException) -> str:
    """The last line of ``exc``'s message (torch puts the mismatch there), at most 160 characters."""
    return (str(exc).strip().splitlines() or [""])[-1].strip()[:160]


def load_weights(path: Path, *, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` onto ``map_location`` (default the CPU: a
    model saved on a GPU machine loads on a CPU-only one); RunDirError naming the file if it
    is missing, damaged or carries anything but tensors and plain containers (a pickle payload)."""
    try:
        return torch.load(path, weights_only=True, map_location=map_location)
    except FileNotFoundError:
        raise RunDirError(f"{str(path)!r} does not exist") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError, TypeError, AttributeError) as exc:  # a text file: KeyError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunDirError(f"{str(path)!r} was refused: not a plain tensor file ({first[:160]})") from None
