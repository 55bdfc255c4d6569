"""Checkpoint weights (model-*.safetensors and their index) that are bad: each is refused at load with one line
naming the file or the key, or loads where the input is actually fine (another float dtype)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

from testing.fuzz import OK, Case
from tests.fuzz.cases_config import reply, said_something

SHARD = "model-00001-of-00002.safetensors"
INDEX = "model.safetensors.index.json"


def split(data: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def tensors(header: dict) -> list[str]:
    return [k for k in header if k != "__metadata__"]


def shard_bytes(edit: Callable[[bytes], bytes]) -> Callable:
    def make(kit) -> list[str]:
        ck = kit.checkpoint()
        path = ck / SHARD
        path.write_bytes(edit(path.read_bytes()))
        return reply(ck)
    return make


def header_edit(edit: Callable[[dict, bytes], tuple[dict, bytes] | None]) -> Callable:
    """`edit(header, body)` changes the header in place (or returns a new (header, body))."""
    def change(data: bytes) -> bytes:
        header, body = split(data)
        out = edit(header, body)
        return join(*(out or (header, body)))
    return shard_bytes(change)


def first(header: dict) -> dict:
    return header[tensors(header)[0]]


def _len_past_end(data: bytes) -> bytes:
    return struct.pack("<Q", len(data) + 1000) + data[8:]


def _offsets_past_end(h: dict, body: bytes) -> None:
    first(h)["data_offsets"] = [len(body) + 8, len(body) + 8 + 8192]


def _overlap(h: dict, body: bytes) -> None:
    a, b = (h[k] for k in tensors(h)[:2])
    b["data_offsets"] = [a["data_offsets"][0] + 4, a["data_offsets"][0] + 4 + (b["data_offsets"][1]
                                                                              - b["data_offsets"][0])]


def _int_dtype(h: dict, body: bytes) -> None:
    first(h)["dtype"] = "I32"


def _missing_key(h: dict, body: bytes) -> tuple[dict, bytes]:
    """The first tensor left out, its bytes too (a consistent file that lacks one weight)."""
    gone = h.pop(tensors(h)[0])
    a, b = gone["data_offsets"]
    for key in tensors(h):
        offsets = h[key]["data_offsets"]
        if offsets[0] >= b:
            h[key]["data_offsets"] = [offsets[0] - (b - a), offsets[1] - (b - a)]
    return h, body[:a] + body[b:]


def _extra_key(h: dict, body: bytes) -> tuple[dict, bytes]:
    h["not_a_weight.weight"] = {"dtype": "F32", "shape": [2], "data_offsets": [len(body), len(body) + 8]}
    return h, body + bytes(8)


def _shape_mismatch(h: dict, body: bytes) -> None:
    t = first(h)
    n = t["shape"][0] * t["shape"][1]
    t["shape"] = [n]


def _huge_shape(h: dict, body: bytes) -> None:
    first(h)["shape"] = [2**40, 2**40]


def _with_value(value: float) -> Callable[[dict, bytes], tuple[dict, bytes]]:
    def edit(h: dict, body: bytes) -> tuple[dict, bytes]:
        start = first(h)["data_offsets"][0]
        return h, body[:start] + struct.pack("<f", value) + body[start + 4:]
    return edit


def _bf16(h: dict, body: bytes) -> tuple[dict, bytes]:
    """Every F32 tensor rewritten as BF16 (the released checkpoint's dtype)."""
    new_body, out = b"", {"__metadata__": h.get("__metadata__", {})}
    for key in tensors(h):
        t = h[key]
        a, b = t["data_offsets"]
        chunk = body[a:b]
        if t["dtype"] == "F32":
            chunk = b"".join(chunk[i + 2:i + 4] for i in range(0, len(chunk), 4))
        out[key] = {"dtype": "BF16" if t["dtype"] == "F32" else t["dtype"], "shape": t["shape"],
                    "data_offsets": [len(new_body), len(new_body) + len(chunk)]}
        new_body += chunk
    return out, new_body


def index_is(content: str) -> Callable:
    def make(kit) -> list[str]:
        ck = kit.checkpoint()
        (ck / INDEX).write_text(content, encoding="utf-8")
        return reply(ck)
    return make


def _no_shard(kit) -> list[str]:
    ck = kit.checkpoint()
    (ck / SHARD).unlink()
    return reply(ck)


A = "safetensors header"
CASES = [
    Case(A, "header length larger than the file", shard_bytes(_len_past_end), says=(SHARD,)),
    Case(A, "header length 2**63", shard_bytes(lambda d: struct.pack("<Q", 2**63) + d[8:]), says=(SHARD,)),
    Case(A, "non-JSON header", shard_bytes(lambda d: d[:8] + b"\xff" * 16 + d[24:]), says=(SHARD,)),
    Case(A, "header a JSON list", shard_bytes(lambda d: struct.pack("<Q", 8) + b"[1,2,3] "), says=(SHARD,)),
    Case(A, "offsets out of range", header_edit(_offsets_past_end), says=(SHARD,)),
    Case(A, "overlapping offsets", header_edit(_overlap), says=(SHARD,)),
    Case(A, "wrong dtype string", header_edit(lambda h, b: first(h).update(dtype="F33")), says=(SHARD,)),
    Case(A, "integer dtype for a float weight", header_edit(_int_dtype), says=("dtype",)),
    Case(A, "a key missing", header_edit(_missing_key), says=("missing", "audio_adapter.fc1.weight")),
    Case(A, "a gap in the data (a key dropped from the header only)",
         header_edit(lambda h, b: h.pop(tensors(h)[0]) and None), says=(SHARD,)),
    Case(A, "an extra key", header_edit(_extra_key), says=("not_a_weight",)),
    Case(A, "shape mismatch", header_edit(_shape_mismatch), says=("shape",)),
    Case(A, "huge declared shape", header_edit(_huge_shape), says=(SHARD,)),
    Case(A, "a NaN weight", header_edit(_with_value(float("nan"))), says=("audio_adapter", "finite")),
    Case(A, "an Infinity weight", header_edit(_with_value(float("-inf"))), says=("audio_adapter", "finite")),
    Case(A, "bfloat16 weights (the released dtype)", header_edit(_bf16), expect=OK, check=said_something),
    Case(A, "truncated file", shard_bytes(lambda d: d[: len(d) // 2]), says=(SHARD,)),
    Case(A, "empty file", shard_bytes(lambda d: b""), says=(SHARD,)),
    Case(A, "8 bytes only", shard_bytes(lambda d: d[:8]), says=(SHARD,)),
    Case(A, "a shard missing", _no_shard, says=(SHARD,)),
    Case(A, "index not JSON", index_is("{weight_map"), says=(INDEX,)),
    Case(A, "index nested 100 000 deep", index_is('{"weight_map": ' + "[" * 100_000 + "]" * 100_000 + "}"),
         says=(INDEX,)),
    Case(A, "index weight_map a list", index_is('{"weight_map": [1]}'), says=(INDEX,)),
    Case(A, "index names a shard outside the folder", index_is('{"weight_map": {"a": "../../etc/passwd"}}'),
         says=(INDEX,)),
]
