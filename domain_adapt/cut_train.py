"""CUT (Park et al. 2020): one-sided contrastive synth→real translation, about half CycleGAN's cost.

One generator and one PatchGAN critic (LSGAN). Content is kept by PatchNCE instead of a backward
generator: in the generator's own encoder features (five layers, each through a small MLP head),
an output patch must be closer to the input patch at the same place than to the other sampled
patches of that image (`nce_patches` per layer, τ = 0.07). Identity-NCE on real images (CUT's
default) keeps G from altering what already looks real; the edge loss keeps the render's outlines
exactly where its labels are, and the optional reading loss (`reader.py`) what lies inside them.
"""

from __future__ import annotations

import torch

from scenesmith.domain_adapt.networks import PatchDiscriminator, PatchHeads, ResnetGenerator, sample_patch_ids
from scenesmith.domain_adapt.translate import Networks, Training
from scenesmith.domain_adapt.translate_losses import label_losses, lsgan, patch_nce, weighted_label_loss
from scenesmith.domain_adapt.translate_options import TranslatorOptions


def build(options: TranslatorOptions) -> Networks:
    generator = ResnetGenerator(options.ngf, options.blocks)
    with torch.no_grad():
        channels = [feature.shape[1] for feature in generator.encode(torch.zeros(1, 3, 32, 32))]
    models = {
        "generator": generator,
        "critic": PatchDiscriminator(options.ndf),
        "heads": PatchHeads(channels),
    }
    adam = {"lr": options.learning_rate, "betas": (0.5, 0.999)}
    optimisers = {
        "generator": torch.optim.Adam([*generator.parameters(), *models["heads"].parameters()], **adam),
        "critic": torch.optim.Adam(models["critic"].parameters(), **adam),
    }
    return Networks(models, optimisers)


def _nce(t: Training, source: torch.Tensor, translated: torch.Tensor) -> torch.Tensor:
    """PatchNCE averaged over the layers: keys from the source, queries from its translation."""
    g, heads = t.nets.models["generator"], t.nets.models["heads"]
    source_features = g.encode(source)
    ids = sample_patch_ids(source_features, t.options.nce_patches, t.torch_rng)
    keys = heads(source_features, ids)
    queries = heads(g.encode(translated), ids)
    return sum(patch_nce(q, k) for q, k in zip(queries, keys, strict=True)) / len(keys)


def step(
    t: Training, synthetic: torch.Tensor, real: torch.Tensor, masks: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    o, g, critic = t.options, t.nets.models["generator"], t.nets.models["critic"]
    # One pass over both: G(s) is the translation, G(r) the identity sample (same InstanceNorm per image).
    both = g(torch.cat([synthetic, real]))
    fake_real, real_identity = both[: len(synthetic)], both[len(synthetic) :]
    critic.requires_grad_(False)
    adversarial = lsgan(critic(fake_real), True)
    nce = _nce(t, synthetic, fake_real)
    nce_identity = _nce(t, real, real_identity)
    labels = label_losses(t, synthetic, fake_real, masks)
    total = adversarial + o.nce_weight * 0.5 * (nce + nce_identity) + weighted_label_loss(t, labels)
    t.nets.optimisers["generator"].zero_grad()
    total.backward()
    t.nets.optimisers["generator"].step()
    critic.requires_grad_(True)
    critic_loss = 0.5 * (lsgan(critic(real), True) + lsgan(critic(fake_real.detach()), False))
    t.nets.optimisers["critic"].zero_grad()
    critic_loss.backward()
    t.nets.optimisers["critic"].step()
    return {
        "adversarial": adversarial,
        "nce": nce,
        "nce_identity": nce_identity,
        **labels,
        "critic": critic_loss,
    }
