#!/usr/bin/env python3
"""Builds data/lexicon/corpus_words.tsv: lowercase word frequencies of the mini model's training text.

Sources (the training corpus only, never the NCBI develop/test splits used for evaluation):
  ../shared/data/corpus/pubmedqa/pqal_abstracts.txt          (lines starting with PMID:/TITLE-QUESTION: kept as text)
  ../shared/data/corpus/ncbi_disease/NCBItrainset_corpus.txt (PubTator: only the |t| and |a| lines)

Words are maximal runs of letters (BERT's pre-tokenizer splits at punctuation and digits stay apart),
lowercased, 2..40 letters. Words seen fewer than MIN_COUNT times are dropped to keep the file small and
to keep typos of the corpus itself out. Output: `word<TAB>count`, most frequent first.

Usage: python3 scripts/build_lexicon.py [SHARED_DATA_DIR] > data/lexicon/corpus_words.tsv
"""
import collections
import re
import sys

MIN_COUNT = 2
shared = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
counts = collections.Counter()
word = re.compile(r"[^\W\d_]{2,40}")


def add(text):
    for match in word.finditer(text):
        counts[match.group(0).lower()] += 1


with open(f"{shared}/corpus/pubmedqa/pqal_abstracts.txt", encoding="utf-8") as f:
    for line in f:
        if line.startswith("PMID:"):
            continue
        add(line.replace("TITLE-QUESTION:", " "))
with open(f"{shared}/corpus/ncbi_disease/NCBItrainset_corpus.txt", encoding="utf-8") as f:
    for line in f:
        parts = line.split("|", 2)
        if len(parts) == 3 and parts[1] in ("t", "a"):
            add(parts[2])

print("# lowercase word frequencies of the mini model's training text; made by scripts/build_lexicon.py")
for w, c in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
    if c >= MIN_COUNT:
        print(f"{w}\t{c}")
