#!/usr/bin/env python3
"""Make the golden files the Rust tests compare against, with Hugging Face transformers.

    python3 scripts/make_goldens.py --data ../shared/data

Writes
- tests/golden/tokenizer_parity.json: token ids of BertTokenizerFast (built by AutoTokenizer from
  vocab.txt + tokenizer_config.json, the files BiomedBERT ships) for a few hundred sentences of
  the PubMedQA abstracts plus hand-written hard cases;
- tests/golden/logits_parity.json: logits of the bundled mini model (models/biomed-mini, run in
  float32) on ~20 sentences, at every position, for a fixed subset of vocabulary ids plus each
  position's arg-max, so the file stays small while covering the whole head;
- tests/golden/entities_parity.json: for token-classification checkpoints (the bundled disease
  tagger models/biomed-mini-ner, safetensors in float16, and a tiny random BIOES one written as
  pytorch_model.bin with its own small vocabulary to tests/golden/tiny-token-classification), the
  classifier's scores at each word's first piece (byte offsets of the word), as
  BertForTokenClassification computes them in float32.
"""
import argparse
import json
import os
import random
import re
import shutil
import tempfile

import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertForTokenClassification

HARD_CASES = [
    "IL-6 and TNF-α levels rose after 5-fluorouracil; N-acetyltransferase 2 was unchanged.",
    "Myocardial infraction vs. infarction: p < 0.05 (95% CI 1.2–3.4).",
    "Café-au-lait spots in naïve patients; Ångström-scale résumé of Müller cells.",
    "E. coli and S. cerevisiae grew at 37 °C ± 0.5 °C.",
    "The ratio was ≥ 2.5 × 10⁻³ in β-cells and γδ T cells.",
    "Patients (n = 1,024) received 500 mg/day; \"quoted\" text has no quote token.",
    "中文字符 mixed with English words and emoji 😀 here.",
    "A" * 120 + " is a word longer than one hundred characters.",
    "Tabs\tand\nnewlines\r\nand   multiple   spaces.",
    "Acute myocardial [MASK] was confirmed by troponin.",
    "[CLS] literal special tokens [SEP] inside [PAD] text [UNK]",
    "",
]

LOGIT_SENTENCES = [
    "Acute myocardial [MASK] was confirmed by troponin.",
    "Type 2 [MASK] mellitus is a risk factor for cardiovascular disease.",
    "Patients with [MASK] cancer received androgen deprivation therapy.",
    "Duchenne muscular [MASK] is caused by mutations in the dystrophin gene.",
    "The [MASK] [MASK] was measured in all participants.",
    "Programmed cell death (PCD) is the regulated death of cells within an organism.",
    "We conducted a randomized controlled trial of 120 patients.",
    "IL-6 and TNF-α levels rose after 5-fluorouracil.",
    "Myocardial infraction is a misspelling.",
    "The terminal ilium was resected.",
    "Mutations in the BRCA1 gene increase the risk of breast cancer.",
    "Results: the odds ratio was 2.3 (95% CI 1.1-4.8).",
    "Conclusions: early [MASK] improves survival.",
    "Blood pressure was measured twice daily.",
    "The study was approved by the ethics committee.",
    "Hepatic copper accumulation is an inherited disorder.",
    "Schizophrenia and bipolar [MASK] share genetic risk.",
    "Naïve café patients.",
    "Antibiotics were given for seven days.",
    "The [MASK] of the patients were women.",
]


def sentences_of(path, limit, seed):
    text_lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("PMID:"):
                text_lines.append(line.replace("TITLE-QUESTION:", "").strip())
    sentences = []
    for line in text_lines:
        sentences.extend(s.strip() for s in re.split(r"(?<=[.?!])\s+(?=[A-Z])", line) if s.strip())
    random.Random(seed).shuffle(sentences)
    return sentences[:limit]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="models/biomed-mini")
    parser.add_argument("--out", default="tests/golden")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tokenizer_dir:
        vocab_dir = os.path.join(args.data, "vocab", "biomedbert-abstract")
        for name in ("vocab.txt", "tokenizer_config.json"):
            shutil.copy(os.path.join(vocab_dir, name), tokenizer_dir)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert len(tokenizer) == 28895, f"tokenizer knows {len(tokenizer)} tokens: see MODEL-FACTS (transformers 5 trap)"

    sentences = sentences_of(os.path.join(args.data, "corpus", "pubmedqa", "pqal_abstracts.txt"), 300, 7) + HARD_CASES
    parity = [{"text": s, "ids": tokenizer(s)["input_ids"]} for s in sentences]
    with open(os.path.join(args.out, "tokenizer_parity.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer": "BertTokenizerFast via AutoTokenizer(vocab.txt + tokenizer_config.json)",
                   "sentences": parity}, f, ensure_ascii=False, indent=0)

    model = BertForMaskedLM.from_pretrained(args.model, dtype=torch.float32)
    model.eval()
    rng = random.Random(11)
    vocab_ids = sorted(set([0, 1, 2, 3, 4, 28894, 28895, 30000, 30521] + rng.sample(range(5, 28895), 119)))
    records = []
    with torch.no_grad():
        for sentence in LOGIT_SENTENCES:
            encoded = tokenizer(sentence, return_tensors="pt")
            logits = model(**encoded).logits[0]
            records.append({
                "text": sentence,
                "ids": encoded["input_ids"][0].tolist(),
                "logits": [[round(float(v), 6) for v in row] for row in logits[:, vocab_ids]],
                "argmax": logits.argmax(dim=-1).tolist(),
                "max": [round(float(v), 6) for v in logits.max(dim=-1).values],
            })
    with open(os.path.join(args.out, "logits_parity.json"), "w", encoding="utf-8") as f:
        json.dump({"model": args.model, "dtype": "float32", "vocab_ids": vocab_ids, "sentences": records},
                  f, ensure_ascii=False)
    make_entity_goldens(args, tokenizer)


ENTITY_SENTENCES = [
    "Familial adenomatous polyposis is caused by mutations in the APC gene.",
    "Patients with Duchenne muscular dystrophy and type 2 diabetes mellitus were excluded.",
    "Hereditary breast and ovarian cancer syndrome was confirmed in three families.",
    "We measured blood pressure twice daily.",
    "Ataxia-telangiectasia (A-T) is a recessive disorder; naïve café-au-lait spots were absent.",
    "Myocardial infarction, stroke and renal failure were the primary outcomes.",
    "The G6PD deficiency allele was common in malaria-endemic regions.",
    "",
]


def byte_offset(text, char_offset):
    return len(text[:char_offset].encode("utf-8"))


def entity_records(model, tokenizer):
    """Each sentence's words (byte offsets) with the classifier's scores at their first piece."""
    records = []
    with torch.no_grad():
        for sentence in ENTITY_SENTENCES:
            encoded = tokenizer(sentence, return_tensors="pt", return_offsets_mapping=True)
            offsets = encoded.pop("offset_mapping")[0].tolist()
            logits = model(**encoded).logits[0]
            words = {}
            for position, word in enumerate(encoded.word_ids(0)):
                if word is None:
                    continue
                start, end = offsets[position]
                if word not in words:
                    words[word] = {"start": byte_offset(sentence, start), "end": byte_offset(sentence, end),
                                   "scores": [round(float(v), 6) for v in logits[position]]}
                else:
                    words[word]["end"] = byte_offset(sentence, end)
            records.append({"text": sentence, "words": [words[w] for w in sorted(words)]})
    return records


def tiny_token_classification(data, out_dir):
    """A random 2-layer BertForTokenClassification with BIOES labels of two types and a
    vocabulary of the first 2,000 BiomedBERT tokens, saved as pytorch_model.bin."""
    os.makedirs(out_dir, exist_ok=True)
    vocab_dir = os.path.join(data, "vocab", "biomedbert-abstract")
    with open(os.path.join(vocab_dir, "vocab.txt"), encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f][:2000]
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    shutil.copy(os.path.join(vocab_dir, "tokenizer_config.json"), out_dir)
    labels = ["O", "B-Chemical", "I-Chemical", "E-Chemical", "S-Chemical",
              "B-Disease", "I-Disease", "E-Disease", "S-Disease"]
    config = BertConfig(vocab_size=2000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128,
                        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
                        architectures=["BertForTokenClassification"])
    torch.manual_seed(5)
    model = BertForTokenClassification(config)
    model.eval()
    config.save_pretrained(out_dir)
    torch.save(model.state_dict(), os.path.join(out_dir, "pytorch_model.bin"))
    return model, AutoTokenizer.from_pretrained(out_dir)


def make_entity_goldens(args, tokenizer):
    tagger = BertForTokenClassification.from_pretrained("models/biomed-mini-ner", dtype=torch.float32)
    tagger.eval()
    tiny, tiny_tokenizer = tiny_token_classification(
        args.data, os.path.join(args.out, "tiny-token-classification"))
    with open(os.path.join(args.out, "entities_parity.json"), "w", encoding="utf-8") as f:
        json.dump({"dtype": "float32", "checkpoints": {
            "models/biomed-mini-ner": entity_records(tagger, tokenizer),
            "tests/golden/tiny-token-classification": entity_records(tiny, tiny_tokenizer),
        }}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
