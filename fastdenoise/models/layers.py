"""Building blocks shared by the networks: fixed Haar wavelet transforms and conv stacks.

Everything here exports to ONNX with dynamic height/width: the Haar DWT/IWT are fixed
stride-2 convolutions (no slicing with data-dependent shapes).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _haar_kernels() -> torch.Tensor:
    """The four orthonormal 2x2 Haar filters (LL, HL, LH, HH) as a ``4x1x2x2`` tensor."""
    ll = [[1.0, 1.0], [1.0, 1.0]]
    hl = [[-1.0, 1.0], [-1.0, 1.0]]
    lh = [[-1.0, -1.0], [1.0, 1.0]]
    hh = [[1.0, -1.0], [-1.0, 1.0]]
    return torch.tensor([ll, hl, lh, hh]).unsqueeze(1) * 0.5


class HaarDWT(nn.Module):
    """One level of the 2-D Haar DWT: ``N x C x H x W -> N x 4C x H/2 x W/2``.

    Output channel ``4c + k`` is sub-band ``k`` (LL, HL, LH, HH) of input channel ``c``.
    The transform is orthonormal, so :class:`HaarIWT` is its exact inverse.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("weight", _haar_kernels().repeat(channels, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight.to(x.dtype), stride=2, groups=self.channels)


class HaarIWT(nn.Module):
    """Inverse of :class:`HaarDWT`: ``N x 4C x H x W -> N x C x 2H x 2W``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("weight", _haar_kernels().repeat(channels, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight.to(x.dtype), stride=2, groups=self.channels)


def conv_relu(cin: int, cout: int, kernel: int = 3, dilation: int = 1) -> nn.Sequential:
    """``kernel x kernel`` convolution ('same' padding) followed by ReLU."""
    pad = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation), nn.ReLU(inplace=True)
    )


def param_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
