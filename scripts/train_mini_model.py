#!/usr/bin/env python3
"""Train the bundled mini BiomedBERT-style masked-language model.

A 4-layer BERT MLM (hidden 128) with the real BiomedBERT-abstract vocabulary and `vocab_size` 30522
like the real config, trained on the PubMedQA abstracts (MIT) and the NCBI-disease *training*
abstracts (the develop and test splits stay unseen: they are used to evaluate the checker).

The model is saved with transformers' `save_pretrained`, so its files look like a real checkpoint:
`config.json`, `model.safetensors` (fp16; the tied decoder weight is stored once) and, in a second
directory, the same weights as `pytorch_model.bin` so the loader for that format is tested too.

How the committed model was made (CPU, 2 cores shared with builds; the budget is wall-clock time,
so the step counts depend on the machine's load):

    # phase 1: from random weights; stopped after the step-1500 checkpoint (loss ~6.4)
    python3 scripts/train_mini_model.py --data ../shared/data --out phase1 --seed 1234 --minutes 75 --lr 6e-4
    # phase 2: continued with a higher learning rate; kept the step-4500 checkpoint (loss ~4.2)
    python3 scripts/train_mini_model.py --data ../shared/data --out models/biomed-mini --seed 1234 \
        --init-from phase1 --minutes 40 --lr 1e-3 --warmup 100

A checkpoint is written every 500 steps (`--out` and `--out`-bin). On a GPU the same script runs
the calibration recipe of the design notes (about 6,500 steps of 256 windows) in minutes and gives
a much better model.

The MLM head runs only at the masked positions (not over every token), which makes a CPU step
about three times cheaper than transformers' default loss.
"""
import argparse
import json
import math
import os
import random
import shutil
import time

import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM


def read_pubmedqa(path):
    paragraphs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("PMID:"):
                continue
            if line.startswith("TITLE-QUESTION:"):
                line = line[len("TITLE-QUESTION:"):].strip()
            paragraphs.append(line)
    return paragraphs


def read_pubtator(path):
    """Titles and abstracts of a PubTator file (`id|t|title`, `id|a|abstract`)."""
    paragraphs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("|", 2)
            if len(parts) == 3 and parts[1] in ("t", "a") and parts[2].strip():
                paragraphs.append(parts[2].strip())
    return paragraphs


def make_windows(tokenizer, paragraphs, window):
    body = window - 2
    windows = []
    for paragraph in paragraphs:
        ids = tokenizer(paragraph, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids), body):
            chunk = ids[start:start + body]
            if len(chunk) < 8:
                continue
            windows.append([tokenizer.cls_token_id] + chunk + [tokenizer.sep_token_id])
    return windows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the shared data directory")
    parser.add_argument("--out", required=True, help="output directory for the safetensors model")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--init-from", help="continue from a saved model directory instead of random weights")
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args()

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    vocab_dir = os.path.join(args.data, "vocab", "biomedbert-abstract")
    tokenizer_dir = os.path.join(args.out, "_tokenizer")
    os.makedirs(tokenizer_dir, exist_ok=True)
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(vocab_dir, name), tokenizer_dir)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert len(tokenizer) == 28895, f"tokenizer knows {len(tokenizer)} tokens, expected 28895"

    paragraphs = read_pubmedqa(os.path.join(args.data, "corpus", "pubmedqa", "pqal_abstracts.txt"))
    paragraphs += read_pubtator(os.path.join(args.data, "corpus", "ncbi_disease", "NCBItrainset_corpus.txt"))
    windows = make_windows(tokenizer, paragraphs, args.window)
    print(f"{len(paragraphs)} paragraphs, {len(windows)} windows", flush=True)

    config = BertConfig(
        vocab_size=30522, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=512, max_position_embeddings=512, type_vocab_size=2,
        hidden_act="gelu", pad_token_id=tokenizer.pad_token_id,
    )
    config.architectures = ["BertForMaskedLM"]
    if args.init_from:
        model = BertForMaskedLM.from_pretrained(args.init_from, dtype=torch.float32)
        print(f"continuing from {args.init_from}", flush=True)
    else:
        model = BertForMaskedLM(config)
    model.train()

    real_vocab = len(tokenizer)
    special_ids = set(tokenizer.all_special_ids)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = args.warmup
    budget_s = args.minutes * 60.0
    started = time.time()
    step = 0
    while True:
        elapsed = time.time() - started
        if elapsed > budget_s:
            break
        # Linear warm-up, then linear decay over the time budget (the step count is unknown up front).
        progress = elapsed / budget_s
        lr = args.lr * min(1.0, (step + 1) / warmup) * max(0.05, 1.0 - progress)
        for group in optimizer.param_groups:
            group["lr"] = lr

        batch = random.sample(windows, args.batch)
        length = max(len(w) for w in batch)
        input_ids = torch.full((args.batch, length), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((args.batch, length), dtype=torch.long)
        for row, w in enumerate(batch):
            input_ids[row, :len(w)] = torch.tensor(w)
            attention[row, :len(w)] = 1
        candidates = attention.bool().clone()
        for token_id in special_ids:
            candidates &= input_ids != token_id
        masked = candidates & (torch.rand(input_ids.shape) < 0.15)
        labels = input_ids[masked]
        corrupted = input_ids.clone()
        action = torch.rand(labels.shape)
        replaced = labels.clone()
        replaced[action < 0.8] = tokenizer.mask_token_id
        random_tokens = torch.randint(5, real_vocab, labels.shape)
        random_slot = (action >= 0.8) & (action < 0.9)
        replaced[random_slot] = random_tokens[random_slot]
        corrupted[masked] = replaced

        hidden = model.bert(input_ids=corrupted, attention_mask=attention).last_hidden_state
        logits = model.cls(hidden[masked])[:, :real_vocab]
        loss = torch.nn.functional.cross_entropy(logits, labels)
        if not torch.isfinite(loss):
            raise SystemExit(f"loss became {loss.item()} at step {step}; lower --lr")
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f} lr {lr:.2e} elapsed {elapsed/60:.1f} min", flush=True)
        if step % 500 == 0:
            save(model, tokenizer_dir, args.out)

    print(f"finished after {step} steps", flush=True)
    save(model, tokenizer_dir, args.out)
    shutil.rmtree(tokenizer_dir)


def save(model, tokenizer_dir, out):
    model.eval()
    half = BertForMaskedLM(model.config)
    half.load_state_dict(model.state_dict())
    half = half.half()
    half.save_pretrained(out)
    # transformers 5 always writes safetensors; the legacy `pytorch_model.bin` is `torch.save` of the
    # state dict (zip format), with the tied decoder weight present as in older real checkpoints.
    bin_dir = out.rstrip("/") + "-bin"
    os.makedirs(bin_dir, exist_ok=True)
    torch.save(half.state_dict(), os.path.join(bin_dir, "pytorch_model.bin"))
    shutil.copy(os.path.join(out, "config.json"), bin_dir)
    for directory in (out, bin_dir):
        for name in ("vocab.txt", "tokenizer_config.json"):
            shutil.copy(os.path.join(tokenizer_dir, name), directory)
    model.train()


if __name__ == "__main__":
    main()
