"""RED-Net (Mao, Shen, Yang; NIPS 2016): residual encoder-decoder with symmetric skips.

``depth`` convolutional layers (3x3, ReLU) are mirrored by ``depth`` deconvolutional layers
(3x3 transposed convs, stride 1). Every second conv layer's output is added to the input of
its mirrored deconv layer, followed by ReLU, and the input image is added to the output
(the paper's skip from input to output).

Deviations: width and depth are parameters (paper: 64 channels, RED-Net-30 = 15 + 15 layers;
shipped: see the model card); no strided first layer.
"""

from __future__ import annotations

import torch
from torch import nn


class REDNet(nn.Module):
    """Symmetric conv/deconv network with skip connections every two layers."""

    def __init__(self, channels: int = 3, width: int = 48, depth: int = 5) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError("depth must be at least 2")
        self.channels, self.width, self.depth = channels, width, depth
        self.convs = nn.ModuleList(
            nn.Conv2d(channels if i == 0 else width, width, 3, padding=1) for i in range(depth)
        )
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(width, channels if i == depth - 1 else width, 3, padding=1)
            for i in range(depth)
        )
        self.relu = nn.ReLU(inplace=False)
        self.multiple = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        h = x
        for i, conv in enumerate(self.convs):
            h = self.relu(conv(h))
            if i % 2 == 1 and i < self.depth - 1:
                skips.append(h)
        for i, deconv in enumerate(self.deconvs):
            h = deconv(h)
            if i == self.depth - 1:
                break
            mirrored = self.depth - 2 - i  # the conv layer feeding deconv i + 1
            if mirrored % 2 == 1 and skips:
                h = h + skips.pop()
            h = self.relu(h)
        return x + h
