#!/usr/bin/env python3
"""Writes a tiny seqlm model file (or checkpoint) for the tests of `seqlm info`, following
docs/file-format.md: an Embedding(V, 3) -> Dense(3 -> V) model of token ids, a tokenizer, a
training configuration with a per-epoch history, user metadata and the CRC-32 checksum.

    make_model_file.py OUT [--tokenizer char|word|none|bad|wide] [--checkpoint] [--dtype F32|F64]

Only the standard library: struct for the safetensors layout, zlib.crc32 for the checksum
(seqlm's CRC-32 is zlib's).
"""
import argparse
import json
import struct
import zlib

parser = argparse.ArgumentParser()
parser.add_argument("out")
# bad: a CharTokenizer JSON that is invalid; wide: a valid one with an id more than the model reads.
parser.add_argument("--tokenizer", choices=["char", "word", "none", "bad", "wide"], default="char")
parser.add_argument("--checkpoint", action="store_true")
parser.add_argument("--dtype", choices=["F32", "F64"], default="F32")
args = parser.parse_args()

if args.tokenizer == "word":
    words = [["the", 3], ["cat", 2], ["sat", 1], ["mat", 1]]
    tokenizer = {"type": "seqlm.WordTokenizer", "version": 1, "filters": "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n",
                 "lower": True, "split": " ", "num_words": None, "oov_token": None, "document_count": 2,
                 "word_counts": words}
    vocabulary = len(words) + 1  # and the padding id 0
else:
    characters = ["\n", " ", "a", "b", "c", "é"]
    tokenizer = {"type": "seqlm.CharTokenizer", "version": 1, "order": "sorted", "lower": "none",
                 "reserve_special_tokens": False, "unknown": "error", "characters": characters}
    vocabulary = len(characters)
    if args.tokenizer == "none":
        tokenizer = None
    elif args.tokenizer == "bad":
        tokenizer["characters"] = ["\n", " ", "a", "b", "c", "de"]
    elif args.tokenizer == "wide":
        tokenizer["characters"] = characters + ["ö"]
dimension = 3

architecture = {"format": "seqlm.sequential", "input": {"kind": "token_ids", "size": vocabulary},
                "layers": [{"type": "Embedding", "name": "embedding",
                            "config": {"vocabulary_size": vocabulary, "dimension": dimension}},
                           {"type": "Dense", "name": "dense",
                            "config": {"input_size": dimension, "units": vocabulary}}]}


def values(count, scale):
    return [scale * ((k * 7) % 11 - 5) / 10.0 for k in range(count)]


# name -> (shape as safetensors writes it, values in row-major order of that shape)
tensors = [
    ("embedding/embeddings", [vocabulary, dimension], values(vocabulary * dimension, 1.0)),  # (D x V)
    ("dense/kernel", [dimension, vocabulary], values(dimension * vocabulary, 0.5)),           # (V x D)
    ("dense/bias", [vocabulary], values(vocabulary, 0.1)),
]

history = {"epochs": [0, 1, 2],
           "metrics": {"accuracy": [0.25, 0.5, 0.625], "loss": [1.75, 1.25, 1.0],
                       "val_loss": [1.875, 1.5, "nan"]}}
training_config = {"level": "char", "data": ["tiny.txt"], "context": 16, "recipe": "tiny",
                   "epochs": 3, "seconds": 1.5, "history": history,
                   "optimizer": {"name": "adam", "learning_rate": 0.001}}
metadata = {
    "format": "seqlm.checkpoint" if args.checkpoint else "seqlm.model",
    "format_version": "1",
    "seqlm_version": "9.9.9-test",
    "dtype": args.dtype,
    "architecture": json.dumps(architecture, separators=(",", ":")),
    "tokenizer": json.dumps(tokenizer, separators=(",", ":"), ensure_ascii=False),
    "training_config": json.dumps(training_config, separators=(",", ":")),
    "user.dataset": "tiny test text",
    "user.note": "line one\nline two",
}
if args.checkpoint:
    metadata["optimizer"] = json.dumps({"name": "adam", "iterations": 42, "hyperparameters": {},
                                        "scalars": {}, "slots": []})
    metadata["training"] = json.dumps({
        "epoch": 3, "batch": 0, "global_step": 42,
        "rng": {"words": ["0" * 16] * 4, "has_spare_normal": False, "spare_normal_bits": "0" * 16},
        "extra": {"history": history}, "tensors": []})

fmt = "<f" if args.dtype == "F32" else "<d"
data = b""
header = {"__metadata__": None}
for name, shape, numbers in tensors:
    raw = b"".join(struct.pack(fmt, v) for v in numbers)
    header[name] = {"dtype": args.dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw

crc = 0
for key in sorted(metadata):
    crc = zlib.crc32(key.encode() + b"\0" + metadata[key].encode() + b"\0", crc)
crc = zlib.crc32(data, crc)
metadata["checksum"] = "crc32:%08x" % crc
header["__metadata__"] = metadata

text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
text += b" " * ((8 - (8 + len(text)) % 8) % 8)
with open(args.out, "wb") as out:
    out.write(struct.pack("<Q", len(text)) + text + data)
