"""Networks of the learned translators: ResNet generator, PatchGAN discriminator, CUT's patch heads.

Why these: they are the CycleGAN/CUT reference designs (Zhu et al. 2017; Park et al. 2020) at slim
widths, so a CPU can train them. The generator is fully convolutional (it runs on any size, tiled
for large images) and residual, so the easy solution — keep the input, change the look — is near
where it starts. The PatchGAN judges ≈70×70-px patches, i.e. texture, noise and local colour rather
than layout, which is what separates renders from photos. Upsampling is nearest + conv instead of
transposed conv: that avoids checkerboard artefacts a detector trained on the output could latch onto.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def init_weights(module: nn.Module) -> nn.Module:
    """The reference init, N(0, 0.02) weights and zero biases: small outputs before training starts."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


class _ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-k, d2k, d4k, n×R4k, u2k, uk, c7s1-3 + tanh (k = `ngf`). Input and output in [-1, 1].

    Needs sides that are multiples of 4 (two stride-2 steps); the tiler pads to that.
    """

    def __init__(self, ngf: int = 16, blocks: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(True),
        ]
        for cin, cout in ((ngf, ngf * 2), (ngf * 2, ngf * 4)):
            layers += [nn.Conv2d(cin, cout, 3, 2, 1), nn.InstanceNorm2d(cout), nn.ReLU(True)]
        first_block = len(layers)
        layers += [_ResBlock(ngf * 4) for _ in range(blocks)]
        for cin, cout in ((ngf * 4, ngf * 2), (ngf * 2, ngf)):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1),
                       nn.InstanceNorm2d(cout), nn.ReLU(True)]  # fmt: skip
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.layers = nn.ModuleList(layers)
        # Where CUT's PatchNCE compares features, as in its reference (nce_layers 0,4,8,12,16): the
        # padded input, both downsampling convs, the first and a middle residual block.
        self.nce_layers = tuple(sorted({0, 4, 7, first_block, first_block + blocks // 2}))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the `nce_layers`, running only as far as the deepest of them."""
        features = []
        for index, layer in enumerate(self.layers[: self.nce_layers[-1] + 1]):
            x = layer(x)
            if index in self.nce_layers:
                features.append(x)
        return features


class PatchDiscriminator(nn.Module):
    """70×70 PatchGAN (three stride-2 convs, then two stride-1): one LSGAN score per patch."""

    def __init__(self, ndf: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1), nn.InstanceNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1), nn.InstanceNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 1, 1), nn.InstanceNorm2d(ndf * 8), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 1),
        )  # fmt: skip
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchHeads(nn.Module):
    """CUT's per-layer two-layer MLPs: project sampled patch features into the PatchNCE space."""

    def __init__(self, channels: list[int], dim: int = 128) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(c, dim), nn.ReLU(True), nn.Linear(dim, dim)) for c in channels
        )
        init_weights(self)

    def forward(self, features: list[torch.Tensor], ids: list[torch.Tensor]) -> list[torch.Tensor]:
        """Unit vectors B×P×dim for the patches at flat positions `ids` (one index tensor per layer)."""
        out = []
        for feature, head, index in zip(features, self.heads, ids, strict=True):
            flat = feature.flatten(2).transpose(1, 2)  # B × HW × C
            out.append(F.normalize(head(flat[:, index.to(flat.device)]), dim=-1))
        return out


def sample_patch_ids(features: list[torch.Tensor], patches: int, rng: torch.Generator) -> list[torch.Tensor]:
    """Random flat positions per layer (the same for every image of the batch, as in CUT)."""
    ids = []
    for feature in features:
        positions = feature.shape[2] * feature.shape[3]
        ids.append(torch.randperm(positions, generator=rng)[: min(patches, positions)])
    return ids
