"""Model size and cost: parameters and multiply-accumulate operations (MACs, "FLOPs")."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-adds of one forward pass on one image (what NAS papers report as FLOPs).

    Uses torch's FlopCounterMode (2 FLOPs per multiply-add) on convolutions and matmuls.
    """
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    model.train(was_training)
    return counter.get_total_flops() // 2

