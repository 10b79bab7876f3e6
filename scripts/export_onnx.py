#!/usr/bin/env python3
"""Exports a BERT masked-language model to ONNX for an Open Inference Protocol server (Triton,
KServe, MLServer): what biomed-lsp sends and reads when `inference.url` is set.

    python3 scripts/export_onnx.py MODEL_DIR OUT_DIR        # e.g. models/biomed-mini models/biomed-mini-onnx
    python3 scripts/export_onnx.py microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract deploy/triton/biomedbert/1

Inputs (int64): `input_ids`, `attention_mask`, `token_type_ids` — [batch, sequence] — and
`positions` — [batch, positions], the token indices of each row whose predictions are wanted (rows
with fewer repeat their last one). Output (float32): `log_probabilities` — [batch, positions,
vocab_size], log-softmax over the vocabulary at those positions only: a full output would be
vocab_size floats for every token of every row. Batch, sequence and position axes are dynamic.

The export is checked against transformers on a few sentences (onnxruntime, largest difference of
log-probabilities printed; it fails above 1e-4). Needs `pip install torch transformers onnx
onnxruntime`. OUT_DIR gets `model.onnx` and the model's `config.json`, `vocab.txt` and
`tokenizer_config.json` (what `--model` needs beside `--inference-url`).
"""
import argparse
import os
import shutil
import sys

import numpy as np
import torch
from transformers import AutoTokenizer, BertForMaskedLM

CHECK_SENTENCES = [
    "Acute myocardial [MASK] was confirmed by elevated troponin levels.",
    "Type 2 diabetes [MASK] is a chronic metabolic disorder.",
    "Patients with prostate cancer received androgen deprivation therapy.",
]


class MaskedLogProbabilities(torch.nn.Module):
    """BertForMaskedLM with its head run only at the asked positions, as log-probabilities."""

    def __init__(self, model):
        super().__init__()
        self.bert = model.bert
        self.cls = model.cls

    def forward(self, input_ids, attention_mask, token_type_ids, positions):
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        index = positions.unsqueeze(-1).expand(-1, -1, hidden.size(-1))
        picked = torch.gather(hidden, 1, index)
        return torch.log_softmax(self.cls(picked), dim=-1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", help="a local model directory or a Hugging Face repo id")
    parser.add_argument("out", help="the directory to write model.onnx (and the tokenizer files) into")
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = BertForMaskedLM.from_pretrained(args.model, dtype=torch.float32).eval()
    wrapper = MaskedLogProbabilities(model).eval()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.onnx")

    example = tokenizer(CHECK_SENTENCES[:2], return_tensors="pt", padding=True)
    positions = torch.tensor([[1, 3], [2, 4]], dtype=torch.int64)
    inputs = (example["input_ids"], example["attention_mask"], example["token_type_ids"], positions)
    with torch.inference_mode():
        torch.onnx.export(
            wrapper,
            inputs,
            path,
            input_names=["input_ids", "attention_mask", "token_type_ids", "positions"],
            output_names=["log_probabilities"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "token_type_ids": {0: "batch", 1: "sequence"},
                "positions": {0: "batch", 1: "positions"},
                "log_probabilities": {0: "batch", 1: "positions"},
            },
            opset_version=args.opset,
            # Folding would store the decoder (tied to the word embeddings) a second time,
            # transposed: twice the file for nothing.
            do_constant_folding=False,
            dynamo=False,
        )

    # Check: every position of a padded batch, against transformers' own logits.
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    encoded = tokenizer(CHECK_SENTENCES, return_tensors="pt", padding=True)
    length = encoded["input_ids"].shape[1]
    all_positions = np.tile(np.arange(length, dtype=np.int64), (len(CHECK_SENTENCES), 1))
    (exported,) = session.run(
        None,
        {
            "input_ids": encoded["input_ids"].numpy(),
            "attention_mask": encoded["attention_mask"].numpy(),
            "token_type_ids": encoded["token_type_ids"].numpy(),
            "positions": all_positions,
        },
    )
    with torch.inference_mode():
        expected = torch.log_softmax(model(**encoded).logits, dim=-1).numpy()
    mask = encoded["attention_mask"].numpy().astype(bool)
    difference = float(np.abs(exported - expected)[mask].max())
    print(f"{path}: largest log-probability difference from transformers {difference:.2e}")
    if difference > 1e-4:
        print("the export does not match transformers", file=sys.stderr)
        return 1

    source = args.model if os.path.isdir(args.model) else None
    if source:
        for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
            if os.path.isfile(os.path.join(source, name)) and os.path.abspath(source) != os.path.abspath(args.out):
                shutil.copy(os.path.join(source, name), args.out)
    else:
        model.config.save_pretrained(args.out)
        tokenizer.save_pretrained(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
