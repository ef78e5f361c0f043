"""Objectives of the training regimes that change which language adapter is active per batch.

Target-language-ready task adapters sample a language adapter per step; translate-train runs each
(single-language) batch under its own language's adapter. Both are plain `(model, batch) -> loss`
functions for the one `fit()`, so every regime keeps the same loop, schedule and selection.
"""

from __future__ import annotations

import torch

from adapter_xfer.methods import adapter_name
from adapter_xfer.train import default_loss


def language_sampling_loss(languages: list[str], setup_for):
    """An objective that samples, per step, which language adapter sits under the task adapter.

    Target-language-ready task adapters: trained on English data under several real language
    adapters, they learn to work with whichever one is swapped in at test time. The choice uses the
    global RNG, which `fit` seeds from (seed, step, rank), so it is reproducible and resume-exact.
    English dev selection still runs under `lang_en`.
    """

    def loss(model, batch):
        return _loss_under(model, batch, setup_for, languages[int(torch.randint(len(languages), (1,)))])

    return loss


def _loss_under(model, batch, setup_for, language: str):
    """The loss with `language`'s adapter active, restoring English (used by dev selection) after."""
    model.set_active_adapters(setup_for(language))
    try:
        return default_loss(model, batch)
    finally:
        model.set_active_adapters(setup_for(adapter_name("lang", "en")))


def translate_train_loss(languages: list[str | None], setup_for):
    """An objective for translate-train: each batch (one language) runs under its language's adapter."""

    def loss(model, batch):
        group = int(batch.pop("lang_group"))
        if languages[group] is None:  # no language adapters (full fine-tuning): the data is the point
            return default_loss(model, batch)
        return _loss_under(model, batch, setup_for, languages[group])

    return loss
