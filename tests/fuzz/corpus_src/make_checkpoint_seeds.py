#!/usr/bin/python3
"""Writes the seed corpus of the checkpoint fuzz targets (safetensors_header_fuzz, hf_config_fuzz,
bpe_tokenizer_fuzz) into tests/fuzz/corpus/. The seeds are made with the same helpers that write the
test checkpoints (tests/checkpoint/make_checkpoints.py), so they look like real files. Re-run after
changing either, and commit the result:

    /usr/bin/python3 tests/fuzz/corpus_src/make_checkpoint_seeds.py
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "checkpoint"))
import make_checkpoints as mc  # noqa: E402

CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors_seeds():
    f32 = struct.pack("<4f", 1.0, -2.5, 0.0, 3.25)
    f16 = struct.pack("<2e", 1.5, -0.25)
    bf16 = struct.pack("<3H", 0x3F80, 0xC020, 0x7F80)  # 1, -2.5, inf
    entries = [("model.embed_tokens.weight", "F32", (2, 2), f32),
               ("model.norm.weight", "F16", (2,), f16),
               ("lm_head.weight", "BF16", (3,), bf16),
               ("scalar", "F32", (), struct.pack("<f", 7.0)),
               ("empty", "F32", (0, 4), b"")]
    whole = mc.safetensors_bytes(entries)
    # Mode byte 0: the file as is. Mode byte 1: "header JSON \0 data" (the target adds the prefix).
    write("safetensors_header_fuzz", "valid_mixed_dtypes", b"\x00" + whole)
    header_len = struct.unpack("<Q", whole[:8])[0]
    write("safetensors_header_fuzz", "valid_mixed_dtypes_split",
          b"\x01" + whole[8:8 + header_len] + b"\x00" + whole[8 + header_len:])
    write("safetensors_header_fuzz", "truncated_data", b"\x00" + whole[:-3])
    write("safetensors_header_fuzz", "header_length_past_end",
          b"\x00" + struct.pack("<Q", 1 << 40) + whole[8:])
    write("safetensors_header_fuzz", "empty_header", b"\x01{}\x00")

    def overlap(h):
        h["lm_head.weight"]["data_offsets"] = h["model.embed_tokens.weight"]["data_offsets"]
    write("safetensors_header_fuzz", "overlapping_offsets",
          b"\x00" + mc.safetensors_bytes(entries, overlap))

    def huge_shape(h):
        h["model.norm.weight"]["shape"] = [2 ** 40, 2 ** 40]
    write("safetensors_header_fuzz", "huge_shape", b"\x00" + mc.safetensors_bytes(entries, huge_shape))

    def bad_dtype(h):
        h["scalar"]["dtype"] = "F128"
    write("safetensors_header_fuzz", "unknown_dtype", b"\x00" + mc.safetensors_bytes(entries, bad_dtype))
    write("safetensors_header_fuzz", "integer_dtypes",
          b"\x00" + mc.safetensors_bytes([("ids", "I64", (2,), struct.pack("<2q", 1, -1)),
                                          ("mask", "BOOL", (3,), b"\x01\x00\x01"),
                                          ("u8", "U8", (1,), b"\xff")]))
    write("safetensors_header_fuzz", "deep_nesting", b"\x01" + b"[" * 300 + b"]" * 300 + b"\x00")


def config_seeds():
    write("hf_config_fuzz", "llama", json.dumps(mc.base_config("llama"), indent=2))
    write("hf_config_fuzz", "qwen2_tied", json.dumps(mc.base_config(
        "qwen2", tie_word_embeddings=True, eos_token_id=[mc.EOS_ID, mc.IM_END_ID]), indent=2))
    write("hf_config_fuzz", "llama_head_dim_mha", json.dumps(mc.base_config(
        "llama", head_dim=16, num_key_value_heads=4, bos_token_id=1, pad_token_id=0)))
    write("hf_config_fuzz", "rope_scaling", json.dumps(mc.base_config(
        "llama", rope_scaling={"type": "linear", "factor": 2.0})))
    write("hf_config_fuzz", "huge_sizes", json.dumps(mc.base_config(
        "llama", hidden_size=2 ** 31 - 1, num_attention_heads=1, num_key_value_heads=1,
        intermediate_size=2 ** 31 - 1, vocab_size=2 ** 31 - 1, max_position_embeddings=2 ** 31 - 1)))
    write("hf_config_fuzz", "wrong_types", json.dumps(mc.base_config(
        "qwen2", vocab_size="272", rms_norm_eps=None, tie_word_embeddings=1)))
    write("hf_config_fuzz", "gemma", json.dumps(mc.base_config("gemma", hidden_act="gelu")))


def tokenizer_seeds():
    write("bpe_tokenizer_fuzz", "tokenizer_qwen2_style",
          json.dumps(mc.tokenizer_json(), ensure_ascii=False))
    gpt2 = mc.tokenizer_json()
    gpt2["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}
    gpt2["model"]["merges"] = [[a, b] for a, b in mc.MERGES]
    gpt2["model"]["ignore_merges"] = True
    write("bpe_tokenizer_fuzz", "tokenizer_gpt2_pairs_ignore_merges",
          json.dumps(gpt2, ensure_ascii=False))
    missing_byte = mc.tokenizer_json()
    del missing_byte["model"]["vocab"][mc.BYTE_CHAR[ord("a")]]
    write("bpe_tokenizer_fuzz", "tokenizer_missing_byte", json.dumps(missing_byte))
    # GPT-NeoX-style: no tokens for the bytes that never occur in UTF-8 (accepted; unk_token for
    # them in invalid input), and a Digits step before the ByteLevel one.
    neox = mc.tokenizer_json()
    for b in [0xC0, 0xC1] + list(range(0xF5, 0x100)):
        del neox["model"]["vocab"][mc.BYTE_CHAR[b]]
    neox["model"]["vocab"]["<unk>"] = max(neox["model"]["vocab"].values()) + 100
    neox["model"]["unk_token"] = "<unk>"
    neox["model"]["fuse_unk"] = True
    neox["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}]}
    write("bpe_tokenizer_fuzz", "tokenizer_neox_missing_bytes_digits",
          json.dumps(neox, ensure_ascii=False))
    # Text inputs (first byte is not '{'): the fixed tokenizers of the target.
    write("bpe_tokenizer_fuzz", "text_english", "hello world, the order of 12345 things\n\n  end")
    write("bpe_tokenizer_fuzz", "text_added_tokens", "x<|endoftext|>[NS]<|endoftext|<|endoftext|>>")
    write("bpe_tokenizer_fuzz", "text_unicode", "café — 日本語 😀 naïve I'm you'LL")
    write("bpe_tokenizer_fuzz", "text_invalid_utf8", b"a\xff\xfe b\xc3 \xed\xa0\x80\xf4\x90\x80\x80 c\x00d")


def main():
    safetensors_seeds()
    config_seeds()
    tokenizer_seeds()


if __name__ == "__main__":
    main()
