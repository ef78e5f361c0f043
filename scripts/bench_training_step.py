"""Benchmark: one training step of a stacked task adapter, AdapterFusion over three adapters and full
fine-tuning, through the real `fit()`.

Interleaved A/B rounds in one process (these machines are noisy): each round times a few steps of
every setting; the table reports the median step time and the ratio to full fine-tuning in fp32.

    python scripts/bench_training_step.py --model multilingual-e5-small-q4 --rounds 3 --steps 4
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from adapter_xfer.config import AdapterConfig, LangAdapterConfig, TrainConfig
from adapter_xfer.formats import get_format
from adapter_xfer.fusion import add_fusion, with_regularization
from adapter_xfer.lang_adapters import add_language_adapter
from adapter_xfer.methods import METHODS, add_task_adapter
from adapter_xfer.modeling import load_model, load_tokenizer, resolve_checkpoint
from adapter_xfer.tasks import TASKS
from adapter_xfer.tiny import ASSETS
from adapter_xfer.train import default_loss, fit


def build(checkpoint: str, method: str):
    torch.manual_seed(0)
    model = load_model(checkpoint)
    add_language_adapter(model, "lang_en", LangAdapterConfig())
    get_format("pair_classification").add_head(model, "task_pawsx", TASKS["pawsx"])
    if METHODS[method].fuses:  # Stack(lang_en, Fuse(three intermediate adapters)); fusion + head train
        fused = ("task_mnli", "task_squad", "task_hellaswag")
        for name in fused:
            add_task_adapter(model, name, AdapterConfig())
        add_fusion(model, fused, "dynamic")
        METHODS[method].prepare(model, None, "task_pawsx", "lang_en", AdapterConfig(), below=(fused,))
    else:
        METHODS[method].prepare(model, "task_pawsx", "task_pawsx", "lang_en", AdapterConfig())
    return model


def time_steps(model, features, collate, steps: int, batch_size: int, bf16: bool, fused: bool) -> float:
    schedule = TrainConfig(max_steps=steps, batch_size=batch_size, learning_rate=1e-5, bf16=bf16, warmup_ratio=0)
    loss = with_regularization(default_loss) if fused else default_loss  # as the fusion stage trains
    started = time.perf_counter()
    fit(model, features, collate, schedule, seed=0, desc="bench", loss_fn=loss)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args()

    checkpoint = resolve_checkpoint(args.model)
    tokenizer = load_tokenizer(checkpoint)
    from adapter_xfer.io_utils import read_jsonl

    pairs = [r for r in read_jsonl(ASSETS / "paraphrase.jsonl") if r["split"] == "train"]
    records = [{"id": i, "text_a": r["sentence1"], "text_b": r["sentence2"], "label": str(r["label"])}
               for i, r in enumerate(pairs)]  # fmt: skip
    fmt = get_format("pair_classification")
    features = fmt.preprocess(records, tokenizer, TASKS["pawsx"], args.max_length)

    def collate(batch):
        return fmt.collate(batch, tokenizer)

    settings = [(m, bf16) for m in ("full_ft", "adapter", "fusion") for bf16 in (False, True)]
    models = {s: build(checkpoint, s[0]) for s in settings}
    times: dict[tuple[str, bool], list[float]] = {s: [] for s in settings}
    for _ in range(args.rounds):
        for setting in settings:
            times[setting].append(time_steps(models[setting], features, collate, args.steps, args.batch_size,
                                             setting[1], METHODS[setting[0]].fuses))  # fmt: skip
    base = statistics.median(times[("full_ft", False)])
    threads = torch.get_num_threads()
    print(f"model {args.model}, batch {args.batch_size}, length <= {args.max_length}, threads {threads}")
    print("| method | precision | step (s) | vs full_ft fp32 | trainable params |")
    print("|---|---|---|---|---|")
    for (method, bf16), values in times.items():
        median = statistics.median(values)
        trainable = sum(p.numel() for p in models[(method, bf16)].parameters() if p.requires_grad)
        print(f"| {method} | {'bf16' if bf16 else 'fp32'} | {median:.3f} | {median / base:.2f}x | {trainable:,} |")


if __name__ == "__main__":
    main()
