"""Writes tiny Hugging Face GPT-2 checkpoints and their logits for Prune's GPT-2 reader and writer.

Usage: python make_gpt2_reference.py OUT_ROOT      (OUT_ROOT = Tests/Reference)

Writes OUT_ROOT/gpt2-tiny (tied embeddings) and OUT_ROOT/gpt2-tiny-untied, each with
config.json, model.safetensors (save_pretrained, safe serialization), input_ids.npy
(int64 [2, 16]), logits.npy (float32 [2, 16, 256]) and keys.json (every tensor of the
safetensors header: name, dtype, shape, in file order). Seeded and on one thread, so reruns
are bit-identical. README.md beside this script lists the keys.
"""

import json
import os
import struct
import sys

import numpy as np
import torch

SEED = 0
BATCH, LENGTH = 2, 16


def safetensors_header(path):
    """The header of a safetensors file as stored: (names in file order, {name: entry}, metadata)."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    metadata = header.pop("__metadata__", None)
    names = sorted(header, key=lambda name: header[name]["data_offsets"][0])
    return names, header, metadata


def write_variant(out_dir, tied):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(SEED)
    config = GPT2Config(vocab_size=256, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                        activation_function="gelu_new", layer_norm_epsilon=1e-5,
                        tie_word_embeddings=tied)
    model = GPT2LMHeadModel(config)
    model.eval()
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    generation_config = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(generation_config):
        os.remove(generation_config)

    generator = torch.Generator().manual_seed(SEED + 1)
    input_ids = torch.randint(0, 256, (BATCH, LENGTH), generator=generator, dtype=torch.int64)
    with torch.no_grad():
        logits = model(input_ids).logits
    assert tuple(logits.shape) == (BATCH, LENGTH, 256)
    np.save(os.path.join(out_dir, "input_ids.npy"), input_ids.numpy().astype(np.int64))
    np.save(os.path.join(out_dir, "logits.npy"), logits.numpy().astype(np.float32))

    # The file read back the plain way must give the same logits (and the same tying).
    reloaded = GPT2LMHeadModel.from_pretrained(out_dir)
    reloaded.eval()
    with torch.no_grad():
        again = reloaded(input_ids).logits
    assert torch.equal(again, logits)
    if tied:
        assert reloaded.lm_head.weight.data_ptr() == reloaded.transformer.wte.weight.data_ptr()

    names, header, metadata = safetensors_header(os.path.join(out_dir, "model.safetensors"))
    keys = [{"name": n, "dtype": header[n]["dtype"], "shape": header[n]["shape"]} for n in names]
    with open(os.path.join(out_dir, "keys.json"), "w") as f:
        json.dump({"metadata": metadata, "tensors": keys}, f, indent=1)
        f.write("\n")
    parameters = sum(p.numel() for p in model.parameters())
    return {"dir": os.path.basename(out_dir), "tied": tied, "parameters": parameters,
            "metadata": metadata, "keys": [(k["name"], k["dtype"], k["shape"]) for k in keys]}


def main():
    out_root = sys.argv[1]
    torch.set_num_threads(1)
    import transformers
    summary = {"torch": torch.__version__, "transformers": transformers.__version__,
               "variants": [write_variant(os.path.join(out_root, "gpt2-tiny"), tied=True),
                            write_variant(os.path.join(out_root, "gpt2-tiny-untied"), tied=False)]}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
