"""Worker for the 2-process test: trains tiny with one method (or a two-task mixture) and writes a
fingerprint per rank.

Run as `python -m torch.distributed.run --nproc_per_node 2 tests/distributed_worker.py METHOD OUT`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapter_xfer.config import TrainConfig
from adapter_xfer.formats import get_format
from adapter_xfer.fusion import with_regularization
from adapter_xfer.modeling import load_model, load_tokenizer, resolve_checkpoint
from adapter_xfer.train import default_loss, fit
from tests.test_methods import TASK, prepared, records
from tests.test_mixtures import two_task_mixture


def main(method: str, out: str) -> None:
    checkpoint = resolve_checkpoint("tiny")
    tokenizer = load_tokenizer(checkpoint)
    schedule = TrainConfig(max_steps=4, batch_size=4, learning_rate=1e-2, warmup_ratio=0.0)
    if method == "mixture":  # two tasks, a head each, one drawn per step: DDP sees unused heads
        model = prepared(load_model(checkpoint), "adapter")
        features, collate, loss = two_task_mixture(model, tokenizer)
        result = fit(model, features, collate, schedule, seed=5, loss_fn=loss, group_weights=[0.5, 0.5])
    else:  # "<method>-one-batch": fewer batches than processes (tiny data): they wrap around
        method, _, size = method.partition("-")
        model = prepared(load_model(checkpoint), method)
        fmt = get_format("pair_classification")
        features = fmt.preprocess(records()[:3] if size else records(), tokenizer, TASK, 32)
        loss = with_regularization(default_loss) if method == "fusion" else default_loss
        result = fit(model, features, lambda f: fmt.collate(f, tokenizer), schedule, seed=5, loss_fn=loss)
    from adapter_xfer.train import process_state

    state = process_state()
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + tensor.detach().numpy().tobytes())
    Path(out).mkdir(parents=True, exist_ok=True)
    Path(out, f"rank{state.process_index}.json").write_text(json.dumps({
        "world": state.num_processes, "backend": str(state.backend), "hash": digest.hexdigest(),
        "steps": result.steps}))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
