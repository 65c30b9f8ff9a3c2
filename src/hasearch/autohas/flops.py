"""MACs of an MBConv child from a per-layer table (for the FLOPs-constrained reward).

Summing per-layer MACs is exact for a stack (tested against FlopCounterMode on whole
children) and costs nothing per search step.
"""

from __future__ import annotations

from hasearch.autohas.supernet import Arch, MBConvSupernet
from hasearch.models.mbconv import HEAD_CHANNELS, LAYERS, STEM_CHANNELS, stem_stride


def _out(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


class MacTable:
    """MACs of every (kernel, expansion) candidate of every layer, plus the fixed parts."""

    def __init__(self, supernet: MBConvSupernet, input_shape: tuple[int, int, int], num_classes: int) -> None:
        channels, height, width = input_shape
        s = stem_stride(input_shape)
        h, w = _out(height, s), _out(width, s)
        self.fixed = h * w * STEM_CHANNELS * channels * 9
        self.layers: list[dict[tuple[int, int], int]] = []
        cin = STEM_CHANNELS
        for (cout, stride), (kernels, expansions) in zip(LAYERS, supernet.choices, strict=True):
            ho, wo = _out(h, stride), _out(w, stride)
            table = {}
            for k in kernels:
                for e in expansions:
                    mid = cin * e
                    expand = h * w * cin * mid if e != 1 else 0
                    table[(k, e)] = expand + ho * wo * mid * k * k + ho * wo * mid * cout
            self.layers.append(table)
            cin, h, w = cout, ho, wo
        self.fixed += h * w * cin * HEAD_CHANNELS + HEAD_CHANNELS * num_classes

    def macs(self, arch: Arch) -> int:
        return self.fixed + sum(table[choice] for table, choice in zip(self.layers, arch, strict=True))
