"""A convolutional denoising autoencoder: the case study's baseline.

Encoder: per level, ``depth`` 3x3 conv+ReLU layers then 2x2 max-pooling; decoder: nearest
2x upsampling then ``depth`` 3x3 conv+ReLU layers; a final 3x3 conv maps to the image. No skip
connections, so everything must pass the bottleneck (that is what makes it an autoencoder
and why it blurs). ``residual=True`` adds the input to the output (off in the baseline).
Deviation from the usual Keras recipe: a linear output instead of a sigmoid (the tiler feeds
values slightly outside ``[0, 1]``).
"""

from __future__ import annotations

import torch
from torch import nn

from fastdenoise.models.layers import conv_relu


class Autoencoder(nn.Module):
    """Conv encoder-decoder with ``len(widths)`` pooling levels."""

    def __init__(
        self,
        channels: int = 3,
        widths: tuple[int, ...] = (48, 96),
        depth: int = 2,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.channels, self.widths, self.depth = channels, tuple(widths), depth
        self.residual = residual
        enc: list[nn.Module] = []
        cin = channels
        for width in self.widths:
            enc += [conv_relu(cin if i == 0 else width, width) for i in range(depth)]
            enc.append(nn.MaxPool2d(2))
            cin = width
        dec: list[nn.Module] = []
        for width in reversed(self.widths):
            dec.append(nn.Upsample(scale_factor=2, mode="nearest"))
            dec += [conv_relu(cin if i == 0 else width, width) for i in range(depth)]
            cin = width
        dec.append(nn.Conv2d(cin, channels, 3, padding=1))
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        self.multiple = 2 ** len(self.widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.decoder(self.encoder(x))
        return x + y if self.residual else y
