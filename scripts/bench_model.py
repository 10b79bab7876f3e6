#!/usr/bin/env python3
"""Fill-mask latency and throughput of biomed-lsp's engine beside transformers (PyTorch, CPU), same
checkpoint, same inputs, same run.

    python3 scripts/bench_model.py --data ../shared/data            # mini model + BERT-base shape
    python3 scripts/bench_model.py --data ../shared/data --only mini
    python3 scripts/bench_model.py --data ../shared/data --make-entity-checkpoint   # for eval_entities

Needs `pip install torch transformers` (CPU is enough). The BERT-base-shaped checkpoint (BiomedBERT's
config, random weights) is generated into bench-models/ on first use and is not committed.
PyTorch is timed on its bare forward pass (full MLM logits, what a transformers fill-mask pipeline
runs); ours on a whole fill request end to end (tokenize, window of 64 tokens around the mask,
forward, head at the masks only, softmax, top-k words): single-piece words (one row); words of up
to three pieces as completion asks (1-, 2- and 3-mask rows in one batch); and the same rescored
with PLL-word-l2r as `biomed-lsp fill` does (k-1 more rows per multi-piece candidate).

Ours runs twice, with f32 weights and with 8-bit weights (`--precision q8`); PyTorch runs fp32 and
its own dynamic int8 quantization of the linear layers (`torch.ao.quantization.quantize_dynamic`).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertForTokenClassification

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BIOMEDBERT_CONFIG = dict(
    vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, max_position_embeddings=512,
    type_vocab_size=2, initializer_range=0.02,
)


def make_base_checkpoint(data, directory):
    if os.path.isfile(os.path.join(directory, "model.safetensors")):
        return
    torch.manual_seed(0)
    config = BertConfig(**BIOMEDBERT_CONFIG)
    config.architectures = ["BertForMaskedLM"]
    BertForMaskedLM(config).save_pretrained(directory)
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(data, "vocab", "biomedbert-abstract", name), directory)


def make_entity_checkpoint(data, directory):
    """A token-classification checkpoint on the BERT-base-shaped encoder (its `bert.*` tensors
    the same, a random classifier for O/B-Disease/I-Disease): what `eval_entities` times, and a
    tagger the server runs on the fill-mask model's encoder."""
    base = os.path.join(ROOT, "bench-models", "bert-base-random")
    make_base_checkpoint(data, base)
    labels = ["O", "B-Disease", "I-Disease"]
    torch.manual_seed(1)
    model = BertForTokenClassification.from_pretrained(
        base, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)})
    model.save_pretrained(directory)
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(base, name), directory)


def corpus_words(data):
    words = []
    with open(os.path.join(data, "corpus", "pubmedqa", "pqal_abstracts.txt"), encoding="utf-8") as f:
        for line in f:
            if not line.startswith(("PMID:", "TITLE-QUESTION:")):
                words.extend(line.split())
            if len(words) > 20000:
                break
    return words


def text_of_tokens(tokenizer, words, start, n_tokens):
    """A text from the corpus of about n_tokens tokens (with [CLS]/[SEP]), a [MASK] in the middle."""
    chosen = []
    index = start
    while len(tokenizer(" ".join(chosen))["input_ids"]) < n_tokens - 1:
        chosen.append(words[index % len(words)])
        index += 1
    chosen[len(chosen) // 2] = "[MASK]"
    return " ".join(chosen)


def time_ms(repeats, run):
    run()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def bench(name, directory, data, repeats, batch_sizes, binary, rounds):
    tokenizer = AutoTokenizer.from_pretrained(directory)
    assert len(tokenizer) == 28895
    model = BertForMaskedLM.from_pretrained(directory, dtype=torch.float32).eval()
    int8_model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    words = corpus_words(data)
    latency_texts = [text_of_tokens(tokenizer, words, 100 * i, n) for i, n in enumerate((32, 64, 128))]
    throughput = {b: [text_of_tokens(tokenizer, words, 37 * j, 64) for j in range(b)] for b in batch_sizes}

    def inputs_file(kind, cases):
        path = os.path.join(ROOT, "target", f"bench-inputs-{name}-{kind}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"latency": [], "throughput": [], kind: cases}, f)
        return path
    latency_path = inputs_file("latency", [{"text": t} for t in latency_texts])
    throughput_path = inputs_file("throughput", [{"texts": texts} for texts in throughput.values()])
    def run_ours(inputs_path, *extra):
        out = subprocess.run([binary, "--model", directory, "--input", inputs_path, "--repeats", str(repeats), *extra],
                             check=True, capture_output=True, text=True).stdout
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        precisions.update(line["name"] for line in lines if line["kind"] == "precision")
        return [line for line in lines if line["kind"] != "precision"]
    precisions = set()
    ours = run_ours(latency_path, "--precision", "f32")
    ours_q8 = run_ours(latency_path, "--precision", "q8", "--no-rescoring")

    rows = []
    with torch.inference_mode():
        for text, result, q8 in zip(latency_texts, ours, ours_q8):
            encoded = tokenizer(text, return_tensors="pt")
            torch_ms = time_ms(repeats, lambda: model(**encoded))
            int8_ms = time_ms(repeats, lambda: int8_model(**encoded))
            rows.append((name, f"1 x {encoded['input_ids'].shape[1]}", torch_ms, int8_ms, result, q8))
        # Throughput in rounds that alternate ours and PyTorch, so that a machine whose speed
        # drifts (a shared one) does not favour whichever ran first; the median of the rounds.
        rates = {batch: {"fp32": [], "int8": [], "f32": [], "q8": []} for batch in throughput}
        for _ in range(rounds):
            for precision, extra in (("f32", ()), ("q8", ("--no-rescoring",))):
                for batch, result in zip(throughput, run_ours(throughput_path, "--precision", precision, *extra)):
                    rates[batch][precision].append(result["tokens_per_s"])
            for batch, texts in throughput.items():
                encoded = tokenizer(texts, return_tensors="pt", padding=True)
                n_tokens = int(encoded["attention_mask"].sum())
                for label, torch_model in (("fp32", model), ("int8", int8_model)):
                    ms = time_ms(max(2, repeats // 4), lambda: torch_model(**encoded))
                    rates[batch][label].append(n_tokens / (ms / 1000))
        throughput_rows = []
        for batch, rate in rates.items():
            ratios = [q8 / int8 for q8, int8 in zip(rate["q8"], rate["int8"])]
            throughput_rows.append((name, batch, *(statistics.median(rate[label]) for label in ("fp32", "int8", "f32", "q8")),
                                    min(ratios), max(ratios)))
    return rows, throughput_rows, sorted(precisions)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--only", choices=["mini", "base"])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the throughput comparison")
    parser.add_argument("--make-entity-checkpoint", action="store_true",
                        help="only write bench-models/bert-base-random-ner (for eval_entities) and stop")
    args = parser.parse_args()
    if args.make_entity_checkpoint:
        make_entity_checkpoint(args.data, os.path.join(ROOT, "bench-models", "bert-base-random-ner"))
        return
    torch.set_num_threads(args.threads)

    subprocess.run(["cargo", "build", "--release", "--example", "bench_model"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "examples", "bench_model")
    models = []
    if args.only in (None, "mini"):
        models.append(("mini", os.path.join(ROOT, "models", "biomed-mini")))
    if args.only in (None, "base"):
        base = os.path.join(ROOT, "bench-models", "bert-base-random")
        make_base_checkpoint(args.data, base)
        models.append(("bert-base", base))

    print(f"CPU threads: PyTorch {torch.get_num_threads()}, candle {os.environ.get('RAYON_NUM_THREADS', 'all cores')}; "
          f"torch {torch.__version__}; median of {args.repeats} runs")
    print()
    print("| model | tokens | PyTorch fp32 forward (ms) | PyTorch int8 forward (ms) | ours f32: forward, whole text / fill, 1-piece words / fill, words ≤3 pieces / fill ≤3 pieces PLL-rescored (ms) | ours q8: forward / fill, 1-piece / fill ≤3 pieces (ms) | f32 fill(1-piece) / PyTorch fp32 | q8 fill(1-piece) / PyTorch fp32 | q8 fill(1-piece) / PyTorch int8 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    all_throughput = []
    precisions = set()
    for name, directory in models:
        rows, throughput_rows, model_precisions = bench(name, directory, args.data, args.repeats, (8, 32), binary, args.rounds)
        precisions.update(model_precisions)
        for model_name, shape, torch_ms, int8_ms, f32, q8 in rows:
            print(f"| {model_name} | {shape} | {torch_ms:.1f} | {int8_ms:.1f} "
                  f"| {f32['forward_ms']:.1f} / {f32['fill_one_piece_ms']:.1f} / {f32['fill_whole_words_ms']:.1f} / {f32['fill_whole_words_rescored_ms']:.1f} "
                  f"| {q8['forward_ms']:.1f} / {q8['fill_one_piece_ms']:.1f} / {q8['fill_whole_words_ms']:.1f} "
                  f"| {f32['fill_one_piece_ms'] / torch_ms:.2f} | {q8['fill_one_piece_ms'] / torch_ms:.2f} "
                  f"| {q8['fill_one_piece_ms'] / int8_ms:.2f} |")
        all_throughput += throughput_rows
    print()
    print(f"Ours ran as: {', '.join(sorted(precisions))}.")
    print()
    print(f"Throughput: median of {args.rounds} rounds alternating ours and PyTorch; the ratio's range over the rounds.")
    print()
    print("| model | batch of 64-token sequences | PyTorch fp32 tokens/s | PyTorch int8 tokens/s | ours f32 tokens/s | ours q8 tokens/s | q8 / PyTorch int8 | per round |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for model_name, batch, torch_rate, int8_rate, our_rate, q8_rate, low, high in all_throughput:
        print(f"| {model_name} | {batch} | {torch_rate:.0f} | {int8_rate:.0f} | {our_rate:.0f} | {q8_rate:.0f} | {q8_rate / int8_rate:.2f} | {low:.2f}–{high:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
