#!/usr/bin/python3
"""Writes tiny random Hugging Face-style checkpoints for kvserve's loader tests.

Usage: make_checkpoints.py OUT_DIR

Every checkpoint is a directory with config.json, safetensors weights (written byte by byte here:
no torch, no safetensors package) and tokenizer.json, plus reference.json: token ids and the
logits of a NumPy float64 forward pass over them, written from the Hugging Face Llama/Qwen2
definitions (RMSNorm, rotate-half RoPE with rope_theta, GQA, SwiGLU, optional q/k/v biases, tied or
untied LM head) and computed from the weights exactly as stored (after F16/BF16 rounding).

Good checkpoints:
  llama_f32        llama, GQA 4/2, untied, F32, one model.safetensors; its LM head rows are zero
                   except for printable ASCII, the merged tokens and "[NS]", so greedy text is
                   plain ASCII that a test can decode by hand
  qwen2_bf16       qwen2 (q/k/v biases), GQA 4/1, tied, BF16, two shards + index, eos list
  llama_f16_tied   llama, MHA, tied, F16, head_dim given (q_size != hidden)
Broken ones (each should be refused with a message naming the file and tensor):
  broken_no_config, broken_missing_tensor, broken_wrong_shape, broken_dtype_i32,
  broken_truncated, broken_offsets_beyond_file, broken_overlapping, broken_missing_shard,
  broken_unexpected_tensor
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

# ---------------------------------------------------------------- tokenizer


def bytes_to_unicode():
    """GPT-2's byte-level alphabet: byte -> printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHAR = bytes_to_unicode()
MERGES = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "w"), ("o", "r"),
          ("Ġw", "or"), ("Ġ", "t"), ("Ġt", "he"), ("e", "r")]
ADDED = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True), ("[NS]", False)]
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def tokenizer_json():
    vocab = {BYTE_CHAR[b]: b for b in range(256)}
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    added = []
    for content, special in ADDED:
        added.append({"id": len(vocab) + len(added), "content": content, "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": False, "special": special})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
             "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                           "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                    "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                  "byte_fallback": False, "vocab": vocab,
                  "merges": [f"{a} {b}" for a, b in MERGES]},
    }


TOKENIZER_SIZE = 256 + len(MERGES) + len(ADDED)  # 270
EOS_ID = 256 + len(MERGES)                         # <|endoftext|>
IM_END_ID = EOS_ID + 2

# ---------------------------------------------------------------- safetensors


def bf16_round(x):
    """float32 -> bfloat16 bit patterns, round to nearest even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def stored(x, dtype):
    """(bytes as stored, float64 value the loader must see)."""
    x = np.asarray(x, dtype=np.float32)
    if dtype == "F32":
        return x.astype("<f4").tobytes(), x.astype(np.float64)
    if dtype == "F16":
        h = x.astype("<f2")
        return h.tobytes(), h.astype(np.float64)
    if dtype == "BF16":
        bits = bf16_round(x)
        return bits.astype("<u2").tobytes(), bf16_value(bits).astype(np.float64)
    if dtype == "I32":
        return np.round(x).astype("<i4").tobytes(), None
    raise ValueError(dtype)


def safetensors_bytes(entries, header_edit=None):
    """entries: list of (name, dtype, shape, raw bytes). header_edit(header) may lie about it."""
    header, data = {}, bytearray()
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    if header_edit is not None:
        header_edit(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


# ---------------------------------------------------------------- model


def printable_ids():
    return set(range(32, 127)) | set(range(256, 256 + len(MERGES))) | {EOS_ID + 3}


def make_weights(cfg, rng, dtype, printable_head=False):
    """HF-named tensors: name -> (dtype, shape, raw bytes), and name -> float64 values."""
    h, ff, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", h // heads)
    q, kv = heads * hd, kv_heads * hd
    shapes = {"model.embed_tokens.weight": ((v, h), 1.0)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": ((h,), None),
            p + "self_attn.q_proj.weight": ((q, h), 1.5 / np.sqrt(h)),
            p + "self_attn.k_proj.weight": ((kv, h), 1.5 / np.sqrt(h)),
            p + "self_attn.v_proj.weight": ((kv, h), 1.0 / np.sqrt(h)),
            p + "self_attn.o_proj.weight": ((h, q), 0.7 / np.sqrt(q)),
            p + "post_attention_layernorm.weight": ((h,), None),
            p + "mlp.gate_proj.weight": ((ff, h), 1.0 / np.sqrt(h)),
            p + "mlp.up_proj.weight": ((ff, h), 1.0 / np.sqrt(h)),
            p + "mlp.down_proj.weight": ((h, ff), 1.0 / np.sqrt(ff)),
        })
        if cfg["model_type"] == "qwen2":
            for name, n in (("q", q), ("k", kv), ("v", kv)):
                shapes[p + f"self_attn.{name}_proj.bias"] = ((n,), 0.5)
    shapes["model.norm.weight"] = ((h,), None)
    if not cfg["tie_word_embeddings"]:
        shapes["lm_head.weight"] = ((v, h), 3.0 / np.sqrt(h))
    raw, values = {}, {}
    for name, (shape, std) in shapes.items():
        x = rng.normal(0.0, std, shape) if std is not None else 1.0 + rng.normal(0.0, 0.1, shape)
        if name == "lm_head.weight" and printable_head:
            keep = printable_ids()
            x[[i for i in range(shape[0]) if i not in keep]] = 0.0
        raw[name] = (dtype, shape, stored(x, dtype)[0])
        values[name] = stored(x, dtype)[1]
    return raw, values


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, positions, theta):
    """x: [T, heads, D]; Hugging Face rotate_half pairing (i, i + D/2)."""
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    angles = positions[:, None] * inv_freq[None, :]           # [T, D/2]
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1)[:, None, :]
    rotated = np.concatenate([-x[..., d // 2:], x[..., :d // 2]], axis=-1)
    return x * cos + rotated * sin


def forward(cfg, w, tokens):
    """Logits [T][vocab] for every position (float64, causal, no cache)."""
    h_dim, heads, kv_heads = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", h_dim // heads)
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    t = len(tokens)
    pos = np.arange(t, dtype=np.float64)
    x = w["model.embed_tokens.weight"][tokens]
    mask = np.triu(np.full((t, t), -np.inf), k=1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        proj = {}
        for name in ("q", "k", "v"):
            proj[name] = a @ w[p + f"self_attn.{name}_proj.weight"].T
            if p + f"self_attn.{name}_proj.bias" in w:
                proj[name] = proj[name] + w[p + f"self_attn.{name}_proj.bias"]
        q = rope(proj["q"].reshape(t, heads, hd), pos, theta)
        k = rope(proj["k"].reshape(t, kv_heads, hd), pos, theta)
        v = proj["v"].reshape(t, kv_heads, hd)
        group = heads // kv_heads
        out = np.zeros((t, heads, hd))
        for head in range(heads):
            scores = q[:, head, :] @ k[:, head // group, :].T / np.sqrt(hd) + mask
            probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs /= probs.sum(axis=-1, keepdims=True)
            out[:, head, :] = probs @ v[:, head // group, :]
        x = x + out.reshape(t, heads * hd) @ w[p + "self_attn.o_proj.weight"].T
        m = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = m @ w[p + "mlp.gate_proj.weight"].T
        up = m @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1.0 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    head_w = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return rms_norm(x, w["model.norm.weight"], eps) @ head_w.T


# ---------------------------------------------------------------- checkpoints


def base_config(model_type, **overrides):
    cfg = {
        "architectures": ["LlamaForCausalLM" if model_type == "llama" else "Qwen2ForCausalLM"],
        "model_type": model_type, "vocab_size": TOKENIZER_SIZE + 2, "hidden_size": 32,
        "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 256, "rope_theta": 50000.0,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "hidden_act": "silu",
        "bos_token_id": None, "eos_token_id": EOS_ID, "torch_dtype": "float32",
    }
    cfg.update(overrides)
    return cfg


REFERENCE_TOKENS = [259, 262, 108, 100, 33, EOS_ID - 1, IM_END_ID, 7, 200, TOKENIZER_SIZE + 1, 104, 256]


def write_checkpoint(out, name, cfg, dtype, seed, shards=1, printable_head=False):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    raw, values = make_weights(cfg, np.random.default_rng(seed), dtype, printable_head)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False)
    names = list(raw)
    if shards == 1:
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(safetensors_bytes([(n,) + raw[n] for n in names]))
    else:
        weight_map = {}
        per = (len(names) + shards - 1) // shards
        for s in range(shards):
            file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = names[s * per:(s + 1) * per]
            with open(os.path.join(d, file), "wb") as f:
                f.write(safetensors_bytes([(n,) + raw[n] for n in part]))
            weight_map.update({n: file for n in part})
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)
    logits = forward(cfg, values, np.array(REFERENCE_TOKENS))
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump({"tokens": REFERENCE_TOKENS, "logits": logits.tolist()}, f)
    return d, raw


def rewrite(d, raw, drop=(), add=(), header_edit=None, cut=None):
    entries = [(n,) + raw[n] for n in raw if n not in drop] + list(add)
    data = safetensors_bytes(entries, header_edit)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(data[:cut] if cut is not None else data)


def broken(out, name, good):
    d = os.path.join(out, name)
    shutil.copytree(good, d)
    return d


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    llama, raw = write_checkpoint(out, "llama_f32", base_config("llama"), "F32", seed=1,
                                  printable_head=True)
    write_checkpoint(out, "qwen2_bf16", base_config(
        "qwen2", num_key_value_heads=1, tie_word_embeddings=True, rope_theta=1000000.0,
        rms_norm_eps=1e-6, eos_token_id=[EOS_ID, IM_END_ID], bos_token_id=EOS_ID,
        use_sliding_window=False, sliding_window=4096), "BF16", seed=2, shards=2)
    write_checkpoint(out, "llama_f16_tied", base_config(
        "llama", num_attention_heads=2, num_key_value_heads=2, head_dim=12,
        tie_word_embeddings=True, rope_theta=10000.0), "F16", seed=3)

    os.remove(os.path.join(broken(out, "broken_no_config", llama), "config.json"))
    rewrite(broken(out, "broken_missing_tensor", llama), raw,
            drop=["model.layers.1.mlp.up_proj.weight"])
    k = "model.layers.0.self_attn.k_proj.weight"
    rewrite(broken(out, "broken_wrong_shape", llama), raw, drop=[k],
            add=[(k, "F32", raw[k][1][::-1], raw[k][2])])  # transposed: [hidden, kv]
    norm = np.ones(32, dtype=np.float32)
    rewrite(broken(out, "broken_dtype_i32", llama), raw, drop=["model.norm.weight"],
            add=[("model.norm.weight", "I32", (32,), stored(norm, "I32")[0])])
    full = os.path.getsize(os.path.join(llama, "model.safetensors"))
    rewrite(broken(out, "broken_truncated", llama), raw, cut=full - 100)

    def beyond(header):
        end = max(e["data_offsets"][1] for n, e in header.items() if n != "__metadata__")
        header["model.layers.1.input_layernorm.weight"]["data_offsets"] = [end, end + 128]
    rewrite(broken(out, "broken_offsets_beyond_file", llama), raw, header_edit=beyond)

    def overlap(header):  # the final norm claims the bytes of layer 0's input norm
        header["model.norm.weight"]["data_offsets"] = list(
            header["model.layers.0.input_layernorm.weight"]["data_offsets"])
    rewrite(broken(out, "broken_overlapping", llama), raw, header_edit=overlap)

    missing = broken(out, "broken_missing_shard", os.path.join(out, "qwen2_bf16"))
    os.remove(os.path.join(missing, "model-00002-of-00002.safetensors"))
    rewrite(broken(out, "broken_unexpected_tensor", llama), raw,
            add=[("model.layers.0.self_attn.q_norm.weight", "F32", (8,),
                  stored(np.ones(8), "F32")[0])])


if __name__ == "__main__":
    main()
