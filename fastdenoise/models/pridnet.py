"""PRIDNet (Zhao, Lai, Li; 2019): pyramid real image denoising network.

Three stages, as in the paper:

1. noise estimation: a plain conv stack with a channel-attention module (squeeze by a
   spatial ``mean``, two 1x1 convs, sigmoid) giving a noise map, concatenated to the input;
2. multi-scale denoising: average pooling by 1, 2, 4, 8, 16 (``scales``), a U-Net per scale,
   bilinear upsampling back, concatenation;
3. feature fusion: a kernel selecting module (3x3/5x5/7x7 branches, softmax attention over
   the branches from a pooled descriptor), then a 1x1 conv to the image; input added back.

Deviations (CPU sizing and export): U-Net width/levels are parameters (paper: 5-level U-Nets
of 32..512 channels, ~74M parameters in all); spatial means instead of adaptive pooling;
upsampling by fixed factors; each U-Net hands ``branch_out`` channels to the fusion (its
3x3/5x5/7x7 convs dominate the cost at full resolution); the size multiple is
``max(scales) * 2**unet_levels``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from fastdenoise.models.layers import conv_relu


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation style channel attention (global mean, two 1x1 convs)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc(x.mean(dim=(2, 3), keepdim=True)))


class UNet(nn.Module):
    """A small U-Net: ``levels`` max-pool downsamplings, concatenation skips."""

    def __init__(self, cin: int, width: int, levels: int, cout: int) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(levels + 1)]
        self.enc = nn.ModuleList()
        for i, w in enumerate(widths):
            self.enc.append(
                nn.Sequential(conv_relu(cin if i == 0 else widths[i - 1], w), conv_relu(w, w))
            )
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(levels)
        )
        self.dec = nn.ModuleList(
            nn.Sequential(conv_relu(2 * widths[i], widths[i]), conv_relu(widths[i], widths[i]))
            for i in range(levels)
        )
        self.out = nn.Conv2d(widths[0], cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.enc):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for i in reversed(range(len(self.up))):
            x = self.dec[i](torch.cat([self.up[i](x), skips[i]], dim=1))
        return self.out(x)


class KernelSelect(nn.Module):
    """Kernel selecting module: 3/5/7 conv branches mixed by softmax attention."""

    def __init__(self, cin: int, width: int, reduction: int = 2) -> None:
        super().__init__()
        self.branches = nn.ModuleList(conv_relu(cin, width, k) for k in (3, 5, 7))
        hidden = max(4, width // reduction)
        self.squeeze = nn.Sequential(nn.Conv2d(width, hidden, 1), nn.ReLU(inplace=True))
        self.select = nn.Conv2d(hidden, 3 * width, 1)
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [branch(x) for branch in self.branches]
        total = feats[0] + feats[1] + feats[2]
        logits = self.select(self.squeeze(total.mean(dim=(2, 3), keepdim=True)))
        n = logits.shape[0]
        weights = torch.softmax(logits.reshape(n, 3, self.width, 1, 1), dim=1)
        return weights[:, 0] * feats[0] + weights[:, 1] * feats[1] + weights[:, 2] * feats[2]


class PRIDNet(nn.Module):
    """Noise estimation + pyramid U-Nets + kernel selecting fusion."""

    def __init__(
        self,
        channels: int = 3,
        estimator_width: int = 24,
        estimator_depth: int = 4,
        unet_width: int = 16,
        unet_levels: int = 2,
        scales: tuple[int, ...] = (1, 2, 4, 8, 16),
        branch_out: int = 6,
        fuse_width: int = 16,
    ) -> None:
        super().__init__()
        self.channels, self.scales = channels, tuple(scales)
        layers = [
            conv_relu(channels if i == 0 else estimator_width, estimator_width)
            for i in range(estimator_depth)
        ]
        self.estimator = nn.Sequential(
            *layers,
            ChannelAttention(estimator_width),
            nn.Conv2d(estimator_width, channels, 3, padding=1),
        )
        self.unets = nn.ModuleList(
            UNet(2 * channels, unet_width, unet_levels, branch_out) for _ in self.scales
        )
        self.fuse = KernelSelect(branch_out * len(self.scales), fuse_width)
        self.out = nn.Conv2d(fuse_width, channels, 1)
        self.multiple = max(self.scales) * 2**unet_levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, self.estimator(x)], dim=1)
        pyramid = []
        for scale, unet in zip(self.scales, self.unets, strict=True):
            if scale == 1:
                pyramid.append(unet(h))
            else:
                y = unet(F.avg_pool2d(h, scale))
                pyramid.append(
                    F.interpolate(y, scale_factor=scale, mode="bilinear", align_corners=False)
                )
        return x + self.out(self.fuse(torch.cat(pyramid, dim=1)))
