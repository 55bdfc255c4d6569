"""Checkpoint folders with a bad config.json, generation_config.json or tokenizer file: each is refused at load with
one line naming the file or the key (or loads, where the input is actually fine)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from testing.fuzz import OK, Case

DEEP = 100_000  # nesting levels: far past Python's recursion limit


def reply(ck: Path) -> list[str]:
    """The cheapest command that loads a whole checkpoint (and uses its tokenizer): a 2-token greedy text reply."""
    return ["reply", "--checkpoint", str(ck), "--text", "hi", "--greedy", "--max-text-tokens", "2",
            "--max-units", "2"]


def edited(edit: Callable[[dict], object], file: str = "config.json") -> Callable:
    def make(kit) -> list[str]:
        ck = kit.checkpoint()
        path = ck / file
        doc = json.loads(path.read_text(encoding="utf-8"))
        edit(doc)
        path.write_text(json.dumps(doc), encoding="utf-8")  # NaN / Infinity are written as such
        return reply(ck)
    return make


def replaced(file: str, content: str | bytes | None) -> Callable:
    """`file` of a fresh checkpoint replaced by `content` (None: removed)."""
    def make(kit) -> list[str]:
        ck = kit.checkpoint()
        path = ck / file
        if content is None:
            path.unlink()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return reply(ck)
    return make


def removed(*files: str) -> Callable:
    def make(kit) -> list[str]:
        ck = kit.checkpoint()
        for name in files:
            (ck / name).unlink()
        return reply(ck)
    return make


def llm(**values) -> Callable[[dict], object]:
    return lambda doc: doc["llm_config"].update(values)


def said_something(folder: Path, outcome) -> str | None:
    return None if outcome.stdout.strip() else "an empty reply"


def cfg(name: str, edit: Callable[[dict], object], *says: str, expect: str = "one line", timeout_s: float = 60.0):
    return Case("config.json", name, edited(edit), expect=expect, says=says,
                check=said_something if expect == OK else None, timeout_s=timeout_s)


DEEP_JSON = "[" * DEEP + "]" * DEEP
BINARY = bytes(range(256)) * 8

CASES = [
    cfg("num_hidden_layers 1e9 (would build a billion-entry list)", llm(num_hidden_layers=10**9),
        "num_hidden_layers", timeout_s=20),
    cfg("num_hidden_layers 1e30", llm(num_hidden_layers=10**30), "num_hidden_layers", timeout_s=20),
    cfg("encoder_layers 1e9", lambda d: d["audio_encoder_config"].update(encoder_layers=10**9), "encoder_layers",
        timeout_s=20),
    cfg("tts num_attention_heads 1e9", lambda d: d["tts_lm_config"].update(num_attention_heads=10**9),
        "num_attention_heads", timeout_s=20),
    cfg("vocab_size 1e12", llm(vocab_size=10**12), "vocab_size", timeout_s=20),
    cfg("max_position_embeddings 1e12", llm(max_position_embeddings=10**12), "max_position_embeddings"),
    Case("config.json", "nested 100 000 deep", replaced("config.json", DEEP_JSON), says=("config.json",)),
    Case("config.json", "a value nested 100 000 deep",
         replaced("config.json", '{"llm_config": ' + DEEP_JSON + "}"), says=("config.json",)),
    Case("config.json", "binary", replaced("config.json", BINARY), says=("config.json",)),
    Case("config.json", "empty", replaced("config.json", ""), says=("config.json",)),
    Case("config.json", "a list", replaced("config.json", "[1, 2]"), says=("config.json",)),
    Case("config.json", "missing", replaced("config.json", None), says=("config.json",)),
    cfg("hidden_size as str", llm(hidden_size="64"), "hidden_size"),
    cfg("hidden_size as a fraction", llm(hidden_size=64.5), "hidden_size"),
    cfg("hidden_size as bool", llm(hidden_size=True), "hidden_size"),
    cfg("hidden_size null", llm(hidden_size=None), "hidden_size"),
    cfg("hidden_size Infinity", llm(hidden_size=float("inf")), "hidden_size"),
    cfg("hidden_size NaN", llm(hidden_size=float("nan")), "hidden_size"),
    cfg("hidden_size a list", llm(hidden_size=[64]), "hidden_size"),
    cfg("hidden_size 64.0 (a whole float)", llm(hidden_size=64.0), expect=OK),
    cfg("num_hidden_layers as str", llm(num_hidden_layers="2"), "num_hidden_layers"),
    cfg("num_hidden_layers null", llm(num_hidden_layers=None), "num_hidden_layers"),
    cfg("intermediate_size as bool", llm(intermediate_size=False), "intermediate_size"),
    cfg("vocab_size Infinity", lambda d: d["tts_lm_config"].update(vocab_size=float("inf")), "vocab_size"),
    cfg("d_model as str", lambda d: d["audio_encoder_config"].update(d_model="32"), "d_model"),
    cfg("num_mel_bins null", lambda d: d["audio_encoder_config"].update(num_mel_bins=None), "num_mel_bins"),
    cfg("num_key_value_heads 0", llm(num_key_value_heads=0), "num_key_value_heads"),
    cfg("num_key_value_heads -2", llm(num_key_value_heads=-2), "num_key_value_heads"),
    cfg("num_key_value_heads not dividing the heads", llm(num_key_value_heads=3), "num_key_value_heads"),
    cfg("head_dim 0", llm(head_dim=0), "head_dim"),
    cfg("hidden_size not divisible by the heads", lambda d: d["audio_encoder_config"].update(d_model=30),
        "d_model"),
    cfg("rms_norm_eps NaN", llm(rms_norm_eps=float("nan")), "rms_norm_eps"),
    cfg("rms_norm_eps Infinity", lambda d: d["tts_lm_config"].update(rms_norm_eps=float("inf")), "rms_norm_eps"),
    cfg("rms_norm_eps -1", llm(rms_norm_eps=-1.0), "rms_norm_eps"),
    cfg("rms_norm_eps as str", llm(rms_norm_eps="1e-6"), "rms_norm_eps"),
    cfg("rope_theta NaN", llm(rope_theta=float("nan")), "rope_theta"),
    cfg("rope_theta 0", llm(rope_theta=0), "rope_theta"),
    cfg("initializer_range NaN (unused at load, still not a number)", llm(initializer_range=float("nan")),
        "initializer_range"),
    cfg("hidden_act unknown", llm(hidden_act="not_an_activation"), "hidden_act"),
    cfg("hidden_act a number", lambda d: d["tts_lm_config"].update(hidden_act=5), "hidden_act"),
    cfg("activation_function unknown",
        lambda d: d["audio_encoder_config"].update(activation_function="os.system"), "activation_function"),
    cfg("torch_dtype bogus", lambda d: d.update(torch_dtype="float1024"), "torch_dtype"),
    cfg("llm torch_dtype bogus", llm(torch_dtype="os.system"), "torch_dtype"),
    cfg("llm dtype bogus", llm(dtype=5), "dtype"),
    cfg("torch_dtype float16 (another real dtype)", llm(torch_dtype="float16"), expect=OK),
    cfg("rope_scaling bogus", llm(rope_scaling={"rope_type": "nonsense", "factor": "x"}), "rope"),
    cfg("layer_types of the wrong length", llm(layer_types=["full_attention"] * 7), "layer_types"),
    cfg("attn_implementation flash (ignored: the app picks how attention runs)",
        llm(attn_implementation="flash_attention_9"), expect=OK),
    cfg("model_type of another model", lambda d: d.update(model_type="llama"), "llama"),
    cfg("llm model_type unknown", llm(model_type="gpt_evil"), "model_type"),
    cfg("llm_config missing", lambda d: d.pop("llm_config"), "llm_config"),
    cfg("llm_config a list", lambda d: d.update(llm_config=[1]), "llm_config"),
    cfg("interleave_strategy bogus", lambda d: d.update(interleave_strategy="a:b"), "interleave_strategy"),
    cfg("conv_kernel_sizes even", lambda d: d.update(conv_kernel_sizes="4,4"), "conv_kernel_sizes"),
    cfg("adapter_inner_dim NaN", lambda d: d.update(adapter_inner_dim=float("nan")), "adapter_inner_dim"),
    cfg("lora_config set", lambda d: d.update(lora_config={"r": 8}), "lora_config"),
    cfg("auto_map with trust_remote_code (ignored: nothing runs)",
        lambda d: d.update(auto_map={"AutoModel": "evil.Model"}, trust_remote_code=True), expect=OK),
    cfg("llm auto_map (ignored: nothing runs)", llm(auto_map={"AutoConfig": "evil.Config"}), expect=OK),
    cfg("unknown extra keys (ignored)", lambda d: d.update(something_new={"x": 1}), expect=OK),
]

gen = "generation_config.json"
CASES += [
    Case(gen, "temperature NaN", edited(lambda d: d.update(temperature=float("nan")), gen), says=("temperature",)),
    Case(gen, "max_new_tokens 1e12", edited(lambda d: d.update(max_new_tokens=10**12), gen),
         says=("max_new_tokens",)),
    Case(gen, "max_new_tokens as str", edited(lambda d: d.update(max_new_tokens="5"), gen),
         says=("max_new_tokens",)),
    Case(gen, "top_p Infinity", edited(lambda d: d.update(top_p=float("inf")), gen), says=("top_p",)),
    Case(gen, "repetition_penalty NaN", edited(lambda d: d.update(repetition_penalty=float("nan")), gen),
         says=("repetition_penalty",)),
    Case(gen, "eos_token_id a str", edited(lambda d: d.update(eos_token_id="eos"), gen), says=("eos_token_id",)),
    Case(gen, "tts top_k -1", edited(lambda d: d.update(top_k=-1), "tts/" + gen), says=("top_k",)),
    Case(gen, "nested 100 000 deep", replaced(gen, DEEP_JSON), says=(gen,)),
    Case(gen, "binary", replaced("tts/" + gen, BINARY), says=(gen,)),
    Case(gen, "Infinity in an unused key", edited(lambda d: d.update(length_penalty=float("inf")), gen),
         says=("length_penalty",)),
    Case(gen, "a list", replaced(gen, "[1]"), says=(gen,)),
    Case(gen, "missing (defaults)", replaced(gen, None), expect=OK, check=said_something),
]

tok = "tokenizer files"
CASES += [
    Case(tok, "every LLM tokenizer file missing",
         removed("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "added_tokens.json"),
         says=("tokenizer",)),
    Case(tok, "tokenizer.json and vocab.json missing", removed("tokenizer.json", "vocab.json"),
         says=("tokenizer.json", "vocab.json")),
    Case(tok, "tokenizer.json missing (vocab.json and merges.txt still there)", removed("tokenizer.json"),
         expect=OK, check=said_something),
    Case(tok, "tts tokenizer files missing", removed("tts/tokenizer.json", "tts/vocab.json"),
         says=("tokenizer",)),
    Case(tok, 'tokenizer.json {"model": 5}', replaced("tokenizer.json", '{"model": 5}'), says=("tokenizer",)),
    Case(tok, "tokenizer.json binary", replaced("tokenizer.json", BINARY), says=("tokenizer",)),
    Case(tok, "tokenizer.json nested 100 000 deep", replaced("tokenizer.json", DEEP_JSON), says=("tokenizer",)),
    Case(tok, "tokenizer.json empty object", replaced("tokenizer.json", "{}"), says=("tokenizer",)),
    Case(tok, "tokenizer_config.json binary", replaced("tokenizer_config.json", BINARY), says=("tokenizer",)),
    Case(tok, "tokenizer_config.json nested deep", replaced("tokenizer_config.json", '{"a": ' + DEEP_JSON + "}"),
         says=("tokenizer",)),
    Case(tok, "tokenizer_config.json auto_map (ignored: no remote code runs)",
         edited(lambda d: d.update(auto_map={"AutoTokenizer": ["evil.Tok", None]}), "tokenizer_config.json"),
         expect=OK, check=said_something),
    Case(tok, "tokenizer_config.json tokenizer_class bogus (tokenizer.json still defines it)",
         edited(lambda d: d.update(tokenizer_class="os.system"), "tokenizer_config.json"), expect=OK,
         check=said_something),
    Case(tok, "added_tokens.json binary", replaced("added_tokens.json", BINARY), says=("added_tokens.json",)),
    Case(tok, "tokenizer.json, vocab.json and merges.txt missing (today: an empty prompt)",
         removed("tokenizer.json", "vocab.json", "merges.txt"), says=("tokenizer.json", "vocab.json")),
    Case(tok, "tokenizer_config.json missing (no chat template)", removed("tokenizer_config.json"),
         says=("chat template",)),
    Case(tok, "tts tokenizer.json truncated", lambda kit: _truncated(kit, "tts/tokenizer.json"),
         says=("tokenizer",)),
]


def _truncated(kit, name: str) -> list[str]:
    ck = kit.checkpoint()
    path = ck / name
    path.write_bytes(path.read_bytes()[:1000])
    return reply(ck)
