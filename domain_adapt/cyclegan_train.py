"""CycleGAN (Zhu et al. 2017) synth→real at slim sizes, with the label-preserving losses.

Two generators (G: synthetic→real, F: real→synthetic) and two PatchGAN critics, LSGAN losses, an
image pool of 50 past fakes per critic, Adam(2e-4, β = 0.5, 0.999). G is pushed to fool the
real-photo critic; the cycle losses (F(G(s)) ≈ s, G(F(r)) ≈ r, weight λ = 10) keep content; the
identity losses (G(r) ≈ r, F(s) ≈ s, weight λ/2) keep colours that are already right; the edge loss
keeps the render's outlines exactly where its labels are, and the optional reading loss (`reader.py`)
what lies inside them. Only G is kept for `apply`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scenesmith.domain_adapt.networks import PatchDiscriminator, ResnetGenerator
from scenesmith.domain_adapt.translate import Networks, Training
from scenesmith.domain_adapt.translate_data import ImagePool
from scenesmith.domain_adapt.translate_losses import label_losses, lsgan, weighted_label_loss
from scenesmith.domain_adapt.translate_options import TranslatorOptions


def build(options: TranslatorOptions) -> Networks:
    models = {
        "generator": ResnetGenerator(options.ngf, options.blocks),
        "backward": ResnetGenerator(options.ngf, options.blocks),
        "critic_real": PatchDiscriminator(options.ndf),
        "critic_synthetic": PatchDiscriminator(options.ndf),
    }
    adam = {"lr": options.learning_rate, "betas": (0.5, 0.999)}
    generators = [*models["generator"].parameters(), *models["backward"].parameters()]
    critics = [*models["critic_real"].parameters(), *models["critic_synthetic"].parameters()]
    optimisers = {
        "generators": torch.optim.Adam(generators, **adam),
        "critics": torch.optim.Adam(critics, **adam),
    }
    return Networks(models, optimisers, {"real": ImagePool(50), "synthetic": ImagePool(50)})


def step(
    t: Training, synthetic: torch.Tensor, real: torch.Tensor, masks: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    o, m = t.options, t.nets.models
    g, f, critic_real, critic_synthetic = (
        m["generator"],
        m["backward"],
        m["critic_real"],
        m["critic_synthetic"],
    )
    fake_real, fake_synthetic = g(synthetic), f(real)
    critics = (critic_real, critic_synthetic)
    for critic in critics:
        critic.requires_grad_(False)
    adversarial = lsgan(critic_real(fake_real), True) + lsgan(critic_synthetic(fake_synthetic), True)
    cycle = F.l1_loss(f(fake_real), synthetic) + F.l1_loss(g(fake_synthetic), real)
    identity = F.l1_loss(g(real), real) + F.l1_loss(f(synthetic), synthetic)
    labels = label_losses(t, synthetic, fake_real, masks)
    total = adversarial + o.cycle_weight * (cycle + 0.5 * identity) + weighted_label_loss(t, labels)
    t.nets.optimisers["generators"].zero_grad()
    total.backward()
    t.nets.optimisers["generators"].step()
    for critic in critics:
        critic.requires_grad_(True)
    past_real = t.nets.pools["real"].query(fake_real, t.rng)
    past_synthetic = t.nets.pools["synthetic"].query(fake_synthetic, t.rng)
    critic_loss = 0.5 * (
        lsgan(critic_real(real), True)
        + lsgan(critic_real(past_real), False)
        + lsgan(critic_synthetic(synthetic), True)
        + lsgan(critic_synthetic(past_synthetic), False)
    )
    t.nets.optimisers["critics"].zero_grad()
    critic_loss.backward()
    t.nets.optimisers["critics"].step()
    return {
        "adversarial": adversarial,
        "cycle": cycle,
        "identity": identity,
        **labels,
        "critic": critic_loss,
    }
