"""The `tiny` model: a 2-layer XLM-R built from a config, with a tokenizer the project trains itself.

Used by unit tests and as a fast offline stand-in. The tokenizer is a Unigram SentencePiece-style
model (XLM-R's pipeline and special tokens) trained deterministically on the multilingual sentences
shipped in `adapter_xfer/assets/demo/`; the weights come from a fixed initialisation seed, independent
of any run seed, so every machine builds bit-identical checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from adapter_xfer.io_utils import atomic_dir, read_jsonl

TINY_NAME = "tiny"
TINY_VERSION = 1  # bump when the recipe below changes, so old caches are not reused
TINY_INIT_SEED = 1234
ASSETS = Path(__file__).resolve().parent / "assets" / "demo"
TINY_SHAPE = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "max_position_embeddings": 514,
}


def tokenizer_corpus() -> list[str]:
    """Every sentence shipped in the demo assets, in a fixed order (the tokenizer's training text)."""
    lines: list[str] = []
    for path in sorted(ASSETS.glob("*.txt")):
        lines += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for path in sorted(ASSETS.glob("*.jsonl")):
        for row in read_jsonl(path):
            lines += [str(v) for k, v in sorted(row.items()) if isinstance(v, str) and len(v) > 3]
    return lines


def train_tokenizer(lines: list[str], vocab_size: int = 4000):
    """Train a fast XLM-R-style tokenizer (Unigram, Metaspace, NFKC) on `lines`, deterministically."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Strip(), normalizers.Replace(r" {2,}", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        unk_token="<unk>",
        shrinking_factor=0.75,
        max_piece_length=16,
        n_sub_iterations=2,
    )
    tok.train_from_iterator(lines, trainer=trainer)
    tok.add_special_tokens(["<mask>"])
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    return XLMRobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=TINY_SHAPE["max_position_embeddings"] - 2,
    )


def build_tiny(folder: Path) -> Path:
    """Write the tiny checkpoint (XLM-R masked LM + tokenizer) to `folder`, atomically."""
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    tokenizer = train_tokenizer(tokenizer_corpus())
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **TINY_SHAPE,
    )
    # Fixed seed, independent of the run seed: `tiny` is one model, not a family.
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(TINY_INIT_SEED)
    model = XLMRobertaForMaskedLM(config)
    torch.random.set_rng_state(generator_state)
    model.config._name_or_path = TINY_NAME
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "adapter_xfer_source.json").write_text(
            json.dumps({"name": TINY_NAME, "version": TINY_VERSION, "init_seed": TINY_INIT_SEED}) + "\n"
        )
    return folder


def prepare_tiny(cache_root: Path) -> Path:
    """The tiny checkpoint folder in the cache, built on first use."""
    folder = cache_root / "models" / f"{TINY_NAME}-v{TINY_VERSION}"
    if not (folder / "adapter_xfer_source.json").is_file():
        build_tiny(folder)
    return folder
