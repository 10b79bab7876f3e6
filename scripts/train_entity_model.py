#!/usr/bin/env python3
"""Fine-tunes the bundled mini model with a token-classification head on NCBI-disease (train
split) on the CPU, and reports entity-level precision, recall and F1 (exact span) on the develop
and test splits.

    pip install torch transformers
    python3 scripts/train_entity_model.py --data ../shared/data [--out DIR] [--epochs N]

Labels O, B-Disease, I-Disease (every NCBI mention type is Disease, as in the usual benchmark);
a word's label sits on its first piece, the others are ignored, as transformers' token
classification examples do. The model is written in transformers' layout (config.json with
id2label, model.safetensors in float16; with --with-tokenizer also the tokenizer's files) to --out
(default models/biomed-mini-ner, the tagger bundled in the binary, which reads the mini model's
tokenizer).

Measured (2 CPU threads, the defaults: 10 epochs, learning rate 1e-3): 201 s of training on an
idle machine; entity F1 (read in chunks of 120 words, as trained) 0.554 on the develop split,
0.597 on the test split; 6 epochs at 5e-4: 0.529 / 0.587. The server tags sentence by
sentence: `cargo run --release --example eval_entities` measures the shipped tagger that way
(see BENCHMARKS.md, "Entities"). A linear head on the mini encoder left as it is gave 0.278.
"""
import argparse
import os
import random
import re
import time

import torch
from transformers import AutoTokenizer, BertForTokenClassification

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = ["O", "B-Disease", "I-Disease"]
WORDS_PER_CHUNK = 120


def read_corpus(path):
    """[(text, [(start, end), ...])]: title and abstract joined by a space, as the offsets count."""
    documents = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            parts = line.split("|", 2)
            if len(parts) == 3 and parts[1] == "t":
                documents.append([parts[2], []])
            elif len(parts) == 3 and parts[1] == "a":
                documents[-1][0] += " " + parts[2]
            else:
                fields = line.split("\t")
                if len(fields) >= 5:
                    start, end = int(fields[1]), int(fields[2])
                    assert documents[-1][0][start:end].strip() == fields[3].strip(), (path, fields)
                    documents[-1][1].append((start, end))
    return documents


def words_of(text):
    """BERT's pre-tokenizer's words (runs of letters/digits, and each other character) with offsets."""
    return [(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", text)]


def chunks(document):
    """The document's words in chunks of at most WORDS_PER_CHUNK, each word with its gold label."""
    text, mentions = document
    words = words_of(text)
    labels = [0] * len(words)
    for start, end in mentions:
        first = True
        for i, (word_start, word_end) in enumerate(words):
            if word_start < end and word_end > start:
                labels[i] = 1 if first else 2
                first = False
    for at in range(0, len(words), WORDS_PER_CHUNK):
        yield text, words[at:at + WORDS_PER_CHUNK], labels[at:at + WORDS_PER_CHUNK]


def encode(tokenizer, batch):
    texts = [[text[s:e] for s, e in words] for text, words, _ in batch]
    encoded = tokenizer(texts, is_split_into_words=True, truncation=True, max_length=512,
                        padding=True, return_tensors="pt")
    targets = torch.full(encoded["input_ids"].shape, -100, dtype=torch.long)
    first_pieces = []
    for row, (_, _, labels) in enumerate(batch):
        seen = set()
        firsts = {}
        for position, word in enumerate(encoded.word_ids(row)):
            if word is not None and word not in seen:
                seen.add(word)
                targets[row, position] = labels[word]
                firsts[word] = position
        first_pieces.append(firsts)
    return encoded, targets, first_pieces


def decode(words, labels):
    """Mentions from BIO labels, as seqeval reads them: (start, end) character spans."""
    mentions, open_span = [], None
    for (start, end), label in zip(words, labels):
        if label == 2 and open_span is not None:
            open_span[1] = end
            continue
        if open_span is not None:
            mentions.append(tuple(open_span))
            open_span = None
        if label in (1, 2):
            open_span = [start, end]
    if open_span is not None:
        mentions.append(tuple(open_span))
    return mentions


def evaluate(model, tokenizer, documents):
    model.eval()
    found = gold = right = 0
    with torch.inference_mode():
        for document in documents:
            predicted = []
            for piece in chunks(document):
                encoded, _, first_pieces = encode(tokenizer, [piece])
                logits = model(**encoded).logits[0]
                labels = [int(logits[first_pieces[0][i]].argmax()) if i in first_pieces[0] else 0
                          for i in range(len(piece[1]))]
                predicted += decode(piece[1], labels)
            gold_spans = set(document[1])
            gold += len(gold_spans)
            found += len(predicted)
            right += sum(1 for span in predicted if span in gold_spans)
    precision = right / max(found, 1)
    recall = right / max(gold, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--out", default=os.path.join(ROOT, "models", "biomed-mini-ner"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--with-tokenizer", action="store_true",
                        help="also write the tokenizer's files (a directory that stands alone; "
                             "the bundled tagger reads the mini model's tokenizer)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    corpus = os.path.join(args.data, "corpus", "ncbi_disease")
    train = read_corpus(os.path.join(corpus, "NCBItrainset_corpus.txt"))
    develop = read_corpus(os.path.join(corpus, "NCBIdevelopset_corpus.txt"))
    test = read_corpus(os.path.join(corpus, "NCBItestset_corpus.txt"))
    mini = os.path.join(ROOT, "models", "biomed-mini")
    tokenizer = AutoTokenizer.from_pretrained(mini)
    model = BertForTokenClassification.from_pretrained(
        mini, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)}, dtype=torch.float32)
    pieces = [piece for document in train for piece in chunks(document)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
    batch_size = 16
    steps = args.epochs * ((len(pieces) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / steps))
    started = time.time()
    for epoch in range(args.epochs):
        model.train()
        random.shuffle(pieces)
        total = 0.0
        for at in range(0, len(pieces), batch_size):
            encoded, targets, _ = encode(tokenizer, pieces[at:at + batch_size])
            loss = model(**encoded, labels=targets).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += float(loss)
        precision, recall, f1 = evaluate(model, tokenizer, develop)
        print(f"epoch {epoch + 1}: loss {total / max(1, len(pieces) // batch_size):.4f}; "
              f"develop precision {precision:.3f}, recall {recall:.3f}, F1 {f1:.3f}; "
              f"{time.time() - started:.0f} s", flush=True)
    training_time = time.time() - started
    for name, documents in (("develop", develop), ("test", test)):
        precision, recall, f1 = evaluate(model, tokenizer, documents)
        print(f"{name}: {len(documents)} abstracts, {sum(len(d[1]) for d in documents)} mentions: "
              f"precision {precision:.3f}, recall {recall:.3f}, F1 {f1:.3f} (entity level, exact span)")
    print(f"training: {len(pieces)} chunks of up to {WORDS_PER_CHUNK} words, {args.epochs} epochs, "
          f"{training_time:.0f} s on {args.threads} CPU threads")
    # Half precision, like the bundled mini model: half the size, the same findings.
    model.to(torch.float16).save_pretrained(args.out, safe_serialization=True)
    if args.with_tokenizer:
        tokenizer.save_pretrained(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
