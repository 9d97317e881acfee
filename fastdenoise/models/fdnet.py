"""FDNet: fastdenoise's own network, built for CPU throughput and real camera noise.

Two parts in one module:

* ``estimate(x)``: a small CNN that reads the noisy image at quarter resolution and predicts
  a per-pixel, per-channel noise map (the local RMS of ``noisy - clean``, in ``[0, 1]`` units)
  at full resolution. Trained on the camera simulation, it sees spatially correlated,
  signal-dependent noise, where fine-scale AWGN estimators under-read it. ``analyze`` and
  ``-m auto`` read their noise level from it.
* ``denoise(x, noise_map)``: a U-Net conditioned on that map (FFDNet/DRUNet style). It works
  at half resolution from the start (pixel-unshuffle: 4x fewer positions, no information
  lost) with NAFNet-style blocks (LayerNorm, depthwise 3x3, SimpleGate) or plain 3x3
  conv-ReLU pairs (``block="conv"``), strided 2x2 convolutions down and pixel-shuffle up.
  Scaling the map is the ``strength`` control: below 1 keeps grain, above 1 cleans harder.

``forward(x)`` is the blind path (estimate, then denoise). For engines that run one input
tensor, :class:`Conditioned` takes ``image ‖ map`` stacked on channels and :class:`Estimator`
returns the map alone. No global pooling anywhere: a tile's output depends only on its
neighbourhood, so tiled and whole-image results agree up to the tiler's cross-fade.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of each pixel (plain ops, so it exports to ONNX)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(1, keepdim=True)
        return centred * torch.rsqrt(var + self.eps) * self.weight + self.bias


class NAFBlock(nn.Module):
    """NAFNet's block without its global channel attention (which would make tiles differ).

    ``x + beta * conv(gate(dw3x3(conv1x1(norm(x)))))``, then the same with a gated 1x1 FFN.
    """

    def __init__(self, channels: int, expand: int = 2) -> None:
        super().__init__()
        hidden = channels * expand
        self.norm1 = LayerNorm2d(channels)
        self.expand = nn.Conv2d(channels, hidden, 1)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.project = nn.Conv2d(hidden // 2, channels, 1)
        self.norm2 = LayerNorm2d(channels)
        self.ffn_in = nn.Conv2d(channels, hidden, 1)
        self.ffn_out = nn.Conv2d(hidden // 2, channels, 1)
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    @staticmethod
    def gate(x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.gate(self.depthwise(self.expand(self.norm1(x)))))
        x = x + y * self.beta
        y = self.ffn_out(self.gate(self.ffn_in(self.norm2(x))))
        return x + y * self.gamma


class ConvBlock(nn.Module):
    """Two 3x3 convolutions with a ReLU between, around a residual connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


BLOCKS = {"naf": NAFBlock, "conv": ConvBlock}


def _stage(kind: str, channels: int, count: int) -> nn.Sequential:
    return nn.Sequential(*(BLOCKS[kind](channels) for _ in range(count)))


class NoiseEstimator(nn.Module):
    """Noisy image -> per-pixel, per-channel noise std map (quarter resolution, upsampled)."""

    def __init__(self, channels: int = 3, width: int = 24, depth: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.PixelUnshuffle(2),
            nn.Conv2d(4 * channels, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 2, stride=2),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, channels, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_sigma = self.body(x)
        # softplus keeps the map positive; the -4 bias starts it near 0.02 (5 levels)
        sigma = F.softplus(log_sigma - 4.0)
        return F.interpolate(sigma, scale_factor=4.0, mode="bilinear", align_corners=False)


class FDNet(nn.Module):
    """Noise-map-conditioned U-Net at half resolution, with its own noise estimator.

    Level 0 carries the 12 values of each 2x2 block, the noise to remove among them: at 16
    channels it was the bottleneck (CBSD432, sigma 25, 400 steps of L1, same seed: 16 channels
    24.55 dB on CBSD68, 32 channels 26.78; 38 vs 70 kFLOP per pixel).
    """

    def __init__(
        self,
        channels: int = 3,
        widths: tuple[int, ...] = (32, 48, 96, 128),
        enc: tuple[int, ...] = (1, 1, 2, 2),
        middle: int = 2,
        dec: tuple[int, ...] = (1, 1, 1, 2),
        block: str = "conv",
        estimator_width: int = 24,
    ) -> None:
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {', '.join(BLOCKS)}, not {block!r}")
        if not len(widths) == len(enc) == len(dec):
            raise ValueError("widths, enc and dec need one entry per level")
        self.channels = channels
        self.conditioned = True  # trained with a noise map (see fastdenoise.train)
        self.estimator = NoiseEstimator(channels, estimator_width)
        self.unshuffle, self.shuffle = nn.PixelUnshuffle(2), nn.PixelShuffle(2)
        self.intro = nn.Conv2d(5 * channels, widths[0], 3, padding=1)
        self.encoders = nn.ModuleList(_stage(block, w, n) for w, n in zip(widths, enc, strict=True))
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        for level, w in enumerate(widths):
            nxt = widths[level + 1] if level + 1 < len(widths) else 2 * w
            self.downs.append(nn.Conv2d(w, nxt, 2, stride=2))
            self.ups.append(nn.Sequential(nn.Conv2d(nxt, 4 * w, 1), nn.PixelShuffle(2)))
        self.middle = _stage(block, 2 * widths[-1], middle)
        self.decoders = nn.ModuleList(_stage(block, w, n) for w, n in zip(widths, dec, strict=True))
        self.outro = nn.Conv2d(widths[0], 4 * channels, 3, padding=1)
        self.multiple = max(4, 2 ** (len(widths) + 1))  # unshuffle + one per level; estimator 4
        self._start_near_identity()

    def _start_near_identity(self) -> None:
        """Zero each residual block's last convolution and shrink the output convolution.

        With PyTorch's default initialisation the untrained U-Net's residual sum grew to a
        14 dB output on 20 dB noisy input (CBSD68, sigma 25), and from there training
        crawled; starting near ``out = x`` it does not (400 steps of L1 on sigma 25, batch 8:
        26.2 dB with the block tails and the output convolution zeroed, 23.3 dB without).
        """
        for module in self.modules():
            if isinstance(module, ConvBlock):
                nn.init.zeros_(module.body[-1].weight)
                nn.init.zeros_(module.body[-1].bias)
        with torch.no_grad():
            self.outro.weight.mul_(0.1)
            self.outro.bias.zero_()

    def estimate(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel, per-channel noise std of ``x`` (``[0, 1]`` units)."""
        return self.estimator(x)

    def denoise(self, x: torch.Tensor, noise_map: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` given a noise std map of the same shape."""
        small = F.avg_pool2d(noise_map, 2)
        h = self.intro(torch.cat([self.unshuffle(x), small], dim=1))
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            h = encoder(h)
            skips.append(h)
            h = down(h)
        h = self.middle(h)
        for level in reversed(range(len(self.decoders))):
            h = self.decoders[level](self.ups[level](h) + skips[level])
        return x + self.shuffle(self.outro(h))

    def forward(
        self, x: torch.Tensor, noise_map: torch.Tensor | None = None, with_estimate: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Blind denoising (the estimator's map), or with a given ``noise_map``.

        ``with_estimate`` (training) also returns the estimate. The denoiser never sends
        gradients into the estimator, which learns from its own loss alone and stays
        calibrated.
        """
        estimate = self.estimate(x)
        used = estimate.detach() if noise_map is None else noise_map
        out = self.denoise(x, used)
        return (out, estimate) if with_estimate else out


def local_rms(noisy: torch.Tensor, clean: torch.Tensor, sigma: float = 4.0) -> torch.Tensor:
    """The true noise map: local RMS of ``noisy - clean`` per channel (Gaussian window).

    The same quantity the estimator's calibration is judged by (RMS of noisy - GT), made
    local. Borders are reflected. Always float32, also under autocast: a training target,
    and PyTorch 2.13's bf16 depthwise convolution took minutes per batch on an AVX-512-bf16
    CPU (AMD EPYC, where training autocasts to bf16).
    """
    radius = int(3 * sigma)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32, device=noisy.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = noisy.shape[1]
    with torch.autocast(noisy.device.type, enabled=False):
        power = (noisy.float() - clean.float()) ** 2
        power = F.pad(power, (radius, radius, radius, radius), mode="reflect")
        power = F.conv2d(power, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        power = F.conv2d(power, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return power.clamp_min(0.0).sqrt()


class Conditioned(nn.Module):
    """One-input view for engines: ``image ‖ noise map`` (2C channels) -> clean image."""

    takes_map = True  # its input is the image, then the image's noise map (int8 calibration)

    def __init__(self, net: FDNet) -> None:
        super().__init__()
        self.net, self.channels, self.multiple = net, 2 * net.channels, net.multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.net.channels
        return self.net.denoise(x[:, :c], x[:, c:])


class Estimator(nn.Module):
    """One-input view for engines: image -> noise std map."""

    def __init__(self, net: FDNet) -> None:
        super().__init__()
        self.net, self.channels, self.multiple = net, net.channels, net.multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.estimate(x)
