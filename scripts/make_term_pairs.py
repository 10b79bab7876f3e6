#!/usr/bin/env python3
"""Builds data/term-pairs/labelled_pairs.tsv: a labelled benchmark of pairs of surface forms for the
question "do these two forms name the same thing in a manuscript?".

    python3 scripts/make_term_pairs.py --data ../shared/data

(run from the repository root; standard library only; deterministic: the same inputs give the same
file byte for byte). It is the gold list for comparing a decision made from the language model's
contextual embeddings (the mean hidden state over each form's occurrences in real sentences) with a
string-only baseline. The file holds no context sentences: the evaluation finds them itself in the
two context corpora below.

Labels and kinds (column `kind`):
  same       spelling       British/American variants of one word (tumour/tumor, oesophageal/esophageal),
                            made by rule (our/or, ae/e, oe/e, is/iz, ys/yz, tre/ter, ll/l, ogue/og, ence/ense,
                            gramme/gram, ph/f ...) from the corpus words; kept when the British form is a word of
                            data/hunspell/en_GB.dic and the American one of en_US.dic (affix rules applied; source
                            `rule+SCOWL`), or, for medical words SCOWL lacks, when both stems are (a common suffix
                            or prefix removed, see stem_known; source `rule+SCOWL-stem`), and the British form is
                            not an en_US word itself (this drops four/for, analyses/analyzes)
             hyphenation    one compound written with a hyphen, with a space, or closed up (follow-up/followup);
                            no part may be a function word (in-hospital/in hospital is dropped)
             abbreviation   an abbreviation (two capitals or more) and a long form that NCBI-disease annotates with
                            the same concept ID and that it abbreviates letter by letter (DMD / Duchenne muscular
                            dystrophy); dropped when PubMedQA defines the abbreviation otherwise or uses it mostly
                            undefined (HD = hemodialysis, BMD = bone mineral density)
             synonym        two other mentions with the same NCBI-disease concept ID, annotated together in at
                            least one abstract (Lowe syndrome / oculocerebrorenal syndrome), at most 4 words each;
                            not when one adds a qualifier to the other (breast cancer / familial breast cancer)
  different  confusable     pairs of the LanguageTool confusion-set subset (LGPL-2.1-or-later, in
                            ../shared/data/confusables) and of data/confusables/medical_pairs.txt (MIT), less the
                            pairs that are forms of one word (mice/mouse, lead/led)
             near-concept   NCBI-disease mentions whose concept IDs never overlap and whose strings are near
                            (edit distance <= 3, or a shared word other than disease, syndrome, familial ...):
                            diabetes insipidus / diabetes mellitus, glaucoma / glioma; not when the words of one
                            are a subset of the other's (cancer / breast cancer), at most 3 words, no gene symbols
             different-abbreviation
                            two abbreviations of one length, one letter apart: of concept IDs that never overlap
                            in NCBI-disease (DMD / BMD), or defined in PubMedQA, each always with one long form,
                            as "long form (ABBR)" with long forms that differ (HIV / HPV)

Pairs a reviewer judged mislabelled by their concept IDs are in EXCLUDE and SYNONYM_SKIP_IDS, each with
its reason. Each kind keeps its best-ranked pairs up to CAP, with GROUP_CAP limiting how often one form,
word or concept comes back.

"Occurs": the corpus text is ../shared/data/corpus/pubmedqa/pqal_abstracts.txt plus
../shared/data/corpus/ncbi_disease/ncbi_disease_abstracts.txt; `PMID:` lines are skipped, the
`TITLE-QUESTION: ` prefix is removed, every other line is split into sentences after `.`, `!` or `?`
followed by white space, and identical sentences are counted once. A form occurs in a sentence when
the regular expression  (?<![\\w-]) + re.escape(form) + (?![\\w-])  matches it: case-sensitive,
not preceded or followed by a letter, a digit, `_` or a hyphen (so `small` does not occur in
`non-small`, nor `tumour` in `tumour-suppressor`). This is stricter than a plain `\\b` match, so a form
counted here is counted at least as often with `\\b`. count_a/count_b are the numbers of distinct
sentences the forms occur in; every pair has both counts >= 2.

Output columns: form_a, form_b, label, kind, source, count_a, count_b; sorted by kind, then form_a,
then form_b; unordered pairs are unique and no form is paired with itself. The counts per kind and
label are printed at the end.
"""
import argparse
import collections
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(REPO, "data", "term-pairs", "labelled_pairs.tsv")

MIN_SENTENCES = 2

# How many pairs of each kind to keep (the best ranked; None keeps all that pass the filters).
CAP = {
    "spelling": None,
    "hyphenation": 40,
    "abbreviation": 30,
    "synonym": 25,
    "confusable": None,
    "near-concept": 60,
    "different-abbreviation": 40,
}
KIND_ORDER = list(CAP)
# At most this many pairs of one kind share a form ("form"), a word ("word", near-concept) or a
# concept id ("id", synonym); an abbreviation gets one long form ("abbr"); a noun and its adjective
# ("derived") and a name and its elliptic short form ("ellipsis") make a few synonym pairs only; pairs
# equal under normal() count once ("pair": ovarian cancer(s) / ovarian tumor). So a few frequent forms
# do not fill a kind.
GROUP_CAP = {"form": 2, "word": 3, "id": 2, "abbr": 1, "derived": 3, "ellipsis": 5, "pair": 1}
LABEL = {
    "spelling": "same", "hyphenation": "same", "abbreviation": "same", "synonym": "same",
    "confusable": "different", "near-concept": "different", "different-abbreviation": "different",
}

# ---------------------------------------------------------------------------------------------------
# Hand-made exclusions, each with its reason. Pairs are unordered and compared under normal() (so a
# plural or a British spelling of a listed form is excluded too).
# ---------------------------------------------------------------------------------------------------
# Confusion-set pairs that are forms of one lexeme (singular/plural, tense): they name the same thing,
# so "different" would be a wrong label.
CONFUSABLE_SAME_LEXEME = {
    ("appendices", "appendix"), ("axes", "axis"), ("bacteria", "bacterium"), ("crises", "crisis"),
    ("diagnoses", "diagnosis"), ("matrices", "matrix"), ("mice", "mouse"), ("teeth", "tooth"),
    ("theses", "thesis"), ("lead", "led"),
}
EXCLUDE = {
    # same concept id in NCBI-disease (synonym candidates), but not the same thing in a manuscript
    ("maternal disomy", "uniparental disomy"): "maternal disomy is one kind of uniparental disomy",
    ("anhaptoglobinemia", "hypohaptoglobinemia"): "absent and lowered haptoglobin are two states",
    ("bilateral retinoblastoma", "unilateral retinoblastoma"): "two different presentations",
    ("bipolar affective disorder", "mania"): "mania is one phase of bipolar disorder",
    ("c2-deficient", "type i c2 deficiency"): "type I is one subtype of C2 deficiency",
    ("cirrhosis", "hepatic fibrosis"): "fibrosis is not cirrhosis",
    ("cowden disease", "hamartoma syndromes"): "a class and one member",
    ("duchenne muscular dystrophy", "dystrophic"): "dystrophic is not specific to DMD",
    ("familial aniridia", "sporadic aniridia"): "two different forms",
    ("gaucher disease", "type ii gd"): "type II is one subtype of Gaucher disease",
    ("hepatic copper accumulation", "liver disease"): "a finding and a class",
    ("hprt-deficient", "lesch-nyhan syndrome"): "HPRT deficiency includes milder forms than Lesch-Nyhan",
    ("lip pits", "van der woude syndrome"): "lip pits are one feature of the syndrome",
    ("macular degeneration", "macular dystrophy"): "degeneration and dystrophy of the macula differ",
    ("macular degeneration", "pattern macular dystrophy"): "degeneration and dystrophy of the macula differ",
    ("myotonia levior", "thomsens disease"): "myotonia levior is a milder variant",
    ("non-papillary renal cell carcinomas", "sporadic renal cell carcinomas"): "two different subsets",
    ("apc tumor", "familial adenomatous polyposis"): "a tumour of a patient, not the syndrome",
    ("adenomatous polyposis coli", "apc tumor"): "a tumour of a patient, not the syndrome",
    # different concept ids (near-concept candidates), but not clearly different things
    ("tumor types", "wilms tumor"): "tumor types is not the name of a concept",
    ("gastric cancers", "sporadic cancers"): "sporadic cancers is not the name of one concept",
    ("colon carcinoma", "colorectal carcinoma"): "writers use colon and colorectal carcinoma loosely",
    ("colon cancer", "colorectal cancer"): "writers use colon and colorectal cancer loosely",
}

# Concept ids whose mentions make no synonym pairs: NCBI-disease gives them to names of distinct
# variants or to a whole class.
SYNONYM_SKIP_IDS = {
    "D000326",      # X-linked adrenoleukodystrophy and its distinct phenotypes (AMN, cerebral ALD)
    "D010661",      # phenylketonuria and (mild) hyperphenylalaninemia
    "D007863",      # classic LCAT deficiency, partial LCAT deficiency, fish-eye disease
    "D030342",      # genetic diseases, inborn: a catch-all (genetic disorder / molecular lesion)
    "D009369",      # neoplasms: a catch-all (solid tumors, tumor types, stage III cancers)
    "OMIM:313900",  # congenital / isolated / X-linked thrombocytopenia
}

# ---------------------------------------------------------------------------------------------------
# Corpus and occurrence counting
# ---------------------------------------------------------------------------------------------------
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
TOKEN = re.compile(r"[\w-]+")


def read_sentences(data, ncbi=True):
    paths = [os.path.join(data, "corpus", "pubmedqa", "pqal_abstracts.txt")]
    if ncbi:
        paths.append(os.path.join(data, "corpus", "ncbi_disease", "ncbi_disease_abstracts.txt"))
    seen = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("PMID:"):
                    continue
                if line.startswith("TITLE-QUESTION: "):
                    line = line[len("TITLE-QUESTION: "):]
                for sentence in SENTENCE_END.split(line):
                    sentence = sentence.strip()
                    if sentence:
                        seen.setdefault(sentence, None)
    return list(seen)


class Corpus:
    """Counts the distinct sentences a form occurs in (see the module docstring for "occurs")."""

    def __init__(self, sentences):
        self.sentences = sentences
        # For a form made only of [\w-] characters an occurrence is exactly a maximal [\w-]+ run of
        # the sentence; for any other form, each [\w-]+ run of the form is one of the sentence, so the
        # sentences holding all of them are the only ones the regular expression must be tried on.
        self.postings = collections.defaultdict(list)
        for i, s in enumerate(sentences):
            for tok in set(TOKEN.findall(s)):
                self.postings[tok].append(i)
        self.tokens = {tok: len(ids) for tok, ids in self.postings.items()}
        self.cache = {}

    def count(self, form):
        if form in self.cache:
            return self.cache[form]
        if TOKEN.fullmatch(form):
            n = self.tokens.get(form, 0)
        else:
            toks = TOKEN.findall(form)
            ids = set(self.postings.get(toks[0], ())) if toks else set(range(len(self.sentences)))
            for tok in toks[1:]:
                ids &= set(self.postings.get(tok, ()))
            pattern = re.compile(r"(?<![\w-])" + re.escape(form) + r"(?![\w-])")
            n = sum(1 for i in ids if pattern.search(self.sentences[i]))
        self.cache[form] = n
        return n


# ---------------------------------------------------------------------------------------------------
# Hunspell (SCOWL) word check, with the affix rules applied in reverse
# ---------------------------------------------------------------------------------------------------
class Dictionary:
    def __init__(self, dic_path, aff_path):
        self.words = collections.defaultdict(set)
        with open(dic_path, encoding="utf-8") as f:
            next(f)  # word count
            for line in f:
                line = line.strip()
                if not line:
                    continue
                word, _, flags = line.partition("/")
                self.words[word] |= set(flags)
        self.sfx, self.pfx = [], []
        cross = {}
        with open(aff_path, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 4 or parts[0] not in ("SFX", "PFX"):
                    continue
                if len(parts) == 4 and parts[2] in "YN":
                    cross[parts[1]] = parts[2] == "Y"
                    continue
                kind, flag, strip, add, cond = parts[:5]
                strip = "" if strip == "0" else strip
                add = "" if add == "0" else add.split("/")[0]
                if kind == "SFX":
                    self.sfx.append((flag, strip, add, re.compile("(?:" + cond + ")$")))
                else:
                    self.pfx.append((flag, strip, add, re.compile("^(?:" + cond + ")")))
        self.cross = cross

    def _stem_has(self, stem, flag):
        return flag in self.words.get(stem, ())

    def _suffixed(self, word, need=None):
        """True if word is a stem (with flag need, if given) or a stem plus one suffix."""
        if word in self.words and (need is None or need in self.words[word]):
            return True
        for flag, strip, add, cond in self.sfx:
            if add and not word.endswith(add):
                continue
            stem = (word[:len(word) - len(add)] if add else word) + strip
            if stem and cond.search(stem) and self._stem_has(stem, flag):
                if need is None or need in self.words[stem]:
                    return True
        return False

    def known(self, word):
        if self._suffixed(word):
            return True
        for flag, strip, add, cond in self.pfx:
            if add and word.startswith(add):
                rest = strip + word[len(add):]
                if rest and cond.search(rest) and self._suffixed(rest, need=flag):
                    return True
        return False


# ---------------------------------------------------------------------------------------------------
# String helpers
# ---------------------------------------------------------------------------------------------------
def levenshtein(a, b):
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


GB_US = [("our", "or"), ("ae", "e"), ("oe", "e"), ("is", "iz"), ("ys", "yz"), ("tre", "ter"),
         ("ll", "l"), ("lment", "llment"), ("ogue", "og"), ("ence", "ense"), ("gramme", "gram"),
         ("dgement", "dgment"), ("eing", "ing"), ("ph", "f"), ("grey", "gray"), ("mould", "mold")]
GB_US_FINAL = [("l", "ll")]  # fulfil/fulfill, enrol/enroll (only at the end of the word)


def normal(form):
    """A rough key under which spelling, hyphenation, case and plural variants coincide."""
    s = form.lower().replace("-", " ")
    for gb, us in GB_US[:6]:
        s = s.replace(gb, us)
    words = []
    for w in s.split():
        if len(w) > 4 and w.endswith("ies"):
            w = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("es") and not w.endswith("ses"):
            w = w[:-2]
        elif len(w) > 3 and w.endswith("s") and not w.endswith("ss") and not w.endswith("sis"):
            w = w[:-1]
        words.append(w)
    return "".join(words)


def is_abbreviation(form):
    """DMD, X-ALD, FRDA, vWD: letters, digits and hyphens, two capitals or more, one small letter at most."""
    return (re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{1,9}", form) is not None and not form.endswith("-")
            and sum(c.isupper() for c in form) >= 2 and sum(c.islower() for c in form) <= 1)


def abbreviates(abbr, long_form):
    """Schwartz-Hearst style: the abbreviation's letters appear in order in the long form, the first
    at the start of a word of it and of the long form itself."""
    letters = [c.lower() for c in abbr if c.isalnum()]
    text = long_form.lower()
    if not letters or not text or text[0] != letters[0]:
        return False
    i = len(text) - 1
    for k in range(len(letters) - 1, -1, -1):
        c = letters[k]
        while i >= 0 and (text[i] != c or (k == 0 and i > 0 and text[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return False
        i -= 1
    return True


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def words_of(form):
    """The words of a form under normal(): breast cancers -> {breast, cancer}."""
    return {normal(w) for w in re.findall(r"\w+", form.lower())}


FUNCTION_WORDS = {"a", "an", "the", "in", "at", "on", "of", "to", "by", "for", "and", "or", "as", "is",
                  "be", "it", "so", "no", "not", "all", "with", "from", "per", "vs"}
# Words that do not make two names near (near-concept needs a shared word outside these, or an edit
# distance of 3 at most).
STOP = {"of", "the", "and", "or", "in", "with", "to", "a", "an", "for", "on", "by", "von", "type", "disease",
        "diseases", "disorder", "disorders", "syndrome", "deficiency", "hereditary", "familial",
        "inherited", "congenital", "sporadic", "autosomal", "dominant", "recessive", "linked", "human"}


# ---------------------------------------------------------------------------------------------------
# Pair generators; each yields (form_a, form_b, kind, source, rank_key, groups): lower rank_key is
# better; groups are extra keys for GROUP_CAP
# ---------------------------------------------------------------------------------------------------
# The fallback word check for medical words that SCOWL at size 60 lacks: drop a common suffix (or a
# common prefix) and find the stem, with one of a few endings, in the dictionary:
# oesophageal -> oesophag+us, haematoma -> haemat+ology, multicentre -> centre, somatisation -> somat+ic.
STEM_SUFFIXES = ["isation", "ization", "igenesis", "ations", "ation", "itis", "omas", "oma", "osis",
                 "eal", "ical", "ic", "al", "ia", "ous", "ed", "ing", "es", "s"]
STEM_ENDINGS = ["", "e", "a", "us", "um", "y", "ic", "al", "ous", "ology"]
STEM_PREFIXES = ["multi", "inter", "intra", "post", "pre", "non", "anti", "sub", "peri"]


def stem_known(dic, word):
    if dic.known(word):
        return True
    for pre in STEM_PREFIXES:
        if word.startswith(pre) and len(word) - len(pre) >= 4 and dic.known(word[len(pre):]):
            return True
    for suf in STEM_SUFFIXES:
        stem = word[:-len(suf)]
        if word.endswith(suf) and len(stem) >= 4:
            if any(dic.known(stem + end) for end in STEM_ENDINGS):
                return True
    return False


def spelling_pairs(corpus, repo):
    hun = os.path.join(repo, "data", "hunspell")
    gb = Dictionary(os.path.join(hun, "en_GB.dic"), os.path.join(hun, "en_GB.aff"))
    us = Dictionary(os.path.join(hun, "en_US.dic"), os.path.join(hun, "en_US.aff"))

    def variants(word):
        out = set()
        for a, b in GB_US:
            start = word.find(a)
            while start >= 0:
                out.add(word[:start] + b + word[start + len(a):])
                start = word.find(a, start + 1)
            if word.count(a) > 1:
                out.add(word.replace(a, b))
        for a, b in GB_US_FINAL:
            if word.endswith(a) and not word.endswith(a + a):
                out.add(word[:-len(a)] + b)
        out.discard(word)
        return out

    words = sorted(w for w, n in corpus.tokens.items()
                   if n >= MIN_SENTENCES and re.fullmatch(r"[a-z]{3,}", w))
    for word in words:
        cands = set()
        for v in variants(word):
            cands.add(v)
            cands |= variants(v)  # two rules at once: anaesthetised/anesthetized
        for v in sorted(cands):
            if v == word or corpus.count(v) < MIN_SENTENCES:
                continue
            if us.known(word):
                continue  # the British form is also an American word: four/for, analyses/analyzes
            strict = gb.known(word) and us.known(v)
            if not strict and not (stem_known(gb, word) and stem_known(us, v)):
                continue
            source = "rule+SCOWL" if strict else "rule+SCOWL-stem"
            yield word, v, "spelling", source, (-min(corpus.count(word), corpus.count(v)), word), ()


def hyphenation_pairs(corpus):
    by_key = collections.defaultdict(set)  # lower-cased hyphen-free key -> surface variants
    for tok, n in corpus.tokens.items():
        if n >= MIN_SENTENCES and re.fullmatch(r"[A-Za-z]+-[A-Za-z]+", tok):
            x, y = tok.split("-")
            if len(x) + len(y) < 5 or x.lower() in FUNCTION_WORDS or y.lower() in FUNCTION_WORDS:
                continue  # "in hospital", "in patient" are mostly prepositional phrases
            key = (x.lower(), y.lower())
            for v in (tok, x + " " + y, x + y):
                if corpus.count(v) >= MIN_SENTENCES:
                    by_key[key].add(v)
    for key in sorted(by_key):
        forms = by_key[key]
        # one surface per spelling (hyphen / space / closed), the most frequent case variant
        best = {}
        for f in forms:
            style = "-" if "-" in f else (" " if " " in f else "")
            if style not in best or (corpus.count(f), f) > (corpus.count(best[style]), best[style]):
                best[style] = f
        styles = [s for s in ("-", " ", "") if s in best]
        for i in range(len(styles)):
            for j in range(i + 1, len(styles)):
                a, b = best[styles[i]], best[styles[j]]
                yield a, b, "hyphenation", "corpus", (-min(corpus.count(a), corpus.count(b)), a), ()


def read_ncbi(data):
    """Mentions: lower-cased form -> {"ids": Counter, "surfaces": Counter, "docs": {id: set(pmid)}};
    mentions of several concepts at once (IDs joined by | or +) are skipped. Also the text of each
    abstract (title and abstract lines)."""
    mentions = {}
    folder = os.path.join(data, "corpus", "ncbi_disease")
    text = {}
    for name in sorted(os.listdir(folder)):
        if not (name.startswith("NCBI") and name.endswith("set_corpus.txt")):
            continue
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                m = re.match(r"(\d+)\|[ta]\|(.*)", line)
                if m:
                    text[m.group(1)] = text.get(m.group(1), "") + m.group(2) + " "
                    continue
                parts = line.split("\t")
                if len(parts) != 6:
                    continue
                pmid, _, _, mention, _, cid = parts
                cid = cid.strip()
                if not cid or "|" in cid or "+" in cid or cid == "-1":
                    continue
                cid = cid.replace("MESH:", "")
                mention = " ".join(mention.split())
                entry = mentions.setdefault(mention.lower(), {
                    "ids": collections.Counter(), "surfaces": collections.Counter(),
                    "docs": collections.defaultdict(set)})
                entry["ids"][cid] += 1
                entry["surfaces"][mention] += 1
                entry["docs"][cid].add(pmid)
    return mentions, text


def ncbi_forms(mentions, corpus):
    """Lower-cased key -> (surface form, set of all its ids, majority id or None). The surface is the
    annotated spelling (of those differing only in case) that occurs in the most sentences; the
    majority id is the one given to at least 80% of the mentions."""
    out = {}
    for key, e in mentions.items():
        surface = max(e["surfaces"], key=lambda s: (corpus.count(s), e["surfaces"][s], s))
        if corpus.count(surface) < MIN_SENTENCES:
            continue
        if len(surface) < 2 or not (surface[0].isalnum() and surface[-1].isalnum()):
            continue
        total = sum(e["ids"].values())
        top, n = max(e["ids"].items(), key=lambda kv: (kv[1], kv[0]))
        out[key] = (surface, set(e["ids"]), top if n >= 0.8 * total else None)
    return out


def pubmedqa_definitions(data):
    """Abbreviation -> Counter of the long forms the PubMedQA abstracts define it with, as in
    "bone mineral density (BMD)": the shortest run of words before the parenthesis that the
    abbreviation abbreviates (Schwartz-Hearst style)."""
    path = os.path.join(data, "corpus", "pubmedqa", "pqal_abstracts.txt")
    defs = collections.defaultdict(collections.Counter)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for m in re.finditer(r"((?:[A-Za-z][\w'-]*[ \t]+){1,8})\(([A-Z][A-Z0-9]{1,7})\)", text):
        words, abbr = m.group(1).split(), m.group(2)
        n = len([c for c in abbr if c.isalpha()])
        for k in range(1, min(len(words), n + 2) + 1):
            cand = " ".join(words[-k:])
            if abbreviates(abbr, cand):
                defs[abbr][cand.lower()] += 1
                break
    return defs


def compatible(x, y):
    """True when one long form's words (after normal()) are a subset of the other's."""
    a = {normal(w) for w in re.split(r"[\s-]+", x) if w}
    b = {normal(w) for w in re.split(r"[\s-]+", y) if w}
    return a <= b or b <= a


class AbbreviationSense:
    """Whether an abbreviation seen in the NCBI annotations keeps that sense across the whole context
    corpus: PubMedQA defines it with no other long form, and most of its sentences are NCBI ones (or
    PubMedQA defines it with the NCBI long form)."""

    def __init__(self, defs, corpus, pubmedqa_corpus):
        self.defs, self.corpus, self.pubmedqa = defs, corpus, pubmedqa_corpus

    def clean(self, abbr, long_forms):
        d = self.defs.get(abbr, {})
        if any(not any(compatible(x, lf) for lf in long_forms) for x in d):
            return False
        if d:
            return True
        return self.pubmedqa.count(abbr) <= 0.25 * self.corpus.count(abbr)


GENERIC = {"cancer", "cancers", "tumor", "tumors", "tumour", "tumours", "neoplasm", "neoplasms",
           "neoplasia", "malignancy", "malignancies", "carcinoma", "carcinomas", "disease", "diseases"}
QUALIFIER_OK = {"disease", "syndrome", "disorder"}


def foreign_token(form):
    """A token mixing letters and digits, or with two capitals (a gene symbol or an abbreviation),
    other than a Roman numeral: such forms make poor near-concept pairs (Brca1-deficient)."""
    for tok in re.split(r"[\s/-]+", form):
        if re.fullmatch(r"[IVX]+[AB]?|\d+|[A-Za-z]|[A-Z]?[a-z']+", tok):
            continue
        return True
    return False


def ncbi_pairs(mentions, texts, corpus, sense):
    """abbreviation and synonym (same majority concept id), near-concept and different-abbreviation
    (disjoint concept ids)."""
    forms = ncbi_forms(mentions, corpus)
    by_id = collections.defaultdict(list)
    for key, (surface, ids, top) in forms.items():
        if top:
            by_id[top].append(key)
    all_text = " ".join(texts[p] for p in sorted(texts)).lower()
    norm = {key: normal(forms[key][0]) for key in forms}
    stop = {normal(w) for w in STOP}

    # long forms of each abbreviation, for its sense check
    long_of = collections.defaultdict(set)
    for cid, keys in by_id.items():
        for k1 in keys:
            if is_abbreviation(forms[k1][0]):
                for k2 in keys:
                    if not is_abbreviation(forms[k2][0]) and abbreviates(forms[k1][0], forms[k2][0]):
                        long_of[forms[k1][0]].add(forms[k2][0])

    for cid in sorted(by_id):
        keys = sorted(by_id[cid])
        for i in range(len(keys)):
            for j in range(i + 1, len(keys)):
                a, b = forms[keys[i]][0], forms[keys[j]][0]
                if norm[keys[i]] == norm[keys[j]]:
                    continue
                abbr_a, abbr_b = is_abbreviation(a), is_abbreviation(b)
                if abbr_a and abbr_b:
                    continue
                if abbr_a or abbr_b:
                    short, long_ = (a, b) if abbr_a else (b, a)
                    if not abbreviates(short, long_) or len(long_) < len(short) + 3:
                        continue
                    if not sense.clean(short, long_of[short]):
                        continue
                    defined = (long_ + " (" + short + ")").lower() in all_text
                    yield (short, long_, "abbreviation", "ncbi-disease " + cid,
                           (not defined, -min(corpus.count(short), corpus.count(long_)), short),
                           ("abbr:" + short,))
                    continue
                if a.lower() in GENERIC or b.lower() in GENERIC:
                    continue  # coarse ids: cancer and tumor share D009369
                if min(len(a), len(b)) < 4 or cid in SYNONYM_SKIP_IDS:
                    continue
                wa, wb = words_of(a), words_of(b)
                if (wa < wb and not (wb - wa) <= QUALIFIER_OK) or (wb < wa and not (wa - wb) <= QUALIFIER_OK):
                    continue  # breast cancer / familial breast cancer: a kind of it, not clearly the same
                shared = mentions[keys[i]]["docs"][cid] & mentions[keys[j]]["docs"][cid]
                if not shared:
                    continue
                nwords = max(len(a.split()), len(b.split()))
                if nwords > 4:
                    continue
                # a noun and its adjective (autism / autistic, C2 deficiency / C2-deficient): a few only
                ta, tb = a.lower().replace("-", " ").split(), b.lower().replace("-", " ").split()
                derived = len(ta) == len(tb) and ta[:-1] == tb[:-1] and \
                    common_prefix(ta[-1], tb[-1]) >= max(5, 0.6 * min(len(ta[-1]), len(tb[-1])))
                # a name and its short form (Tay-Sachs / Tay-Sachs disease): a few only; the short form
                # occurs in every sentence of the long one
                short_form = (b.startswith(a + " ") or a.startswith(b + " "))
                yield (a, b, "synonym", "ncbi-disease " + cid,
                       (nwords > 3, -len(shared), nwords,
                        -min(corpus.count(a), corpus.count(b)), a),
                       ("id:" + cid, "pair:" + "~".join(sorted((norm[keys[i]], norm[keys[j]]))))
                       + (("derived:",) if derived else ()) + (("ellipsis:",) if short_form else ()))

    keys = sorted(forms)
    for i in range(len(keys)):
        sa, ids_a, _ = forms[keys[i]]
        for j in range(i + 1, len(keys)):
            sb, ids_b, _ = forms[keys[j]]
            if ids_a & ids_b or norm[keys[i]] == norm[keys[j]]:
                continue
            abbr_a, abbr_b = is_abbreviation(sa), is_abbreviation(sb)
            source = "ncbi-disease " + "/".join(sorted(ids_a)) + " vs " + "/".join(sorted(ids_b))
            if abbr_a and abbr_b:
                if len(sa) == len(sb) and levenshtein(sa, sb) == 1:
                    # (an abbreviation with another sense elsewhere in the corpus still names
                    # something else than the other one: the label holds)
                    yield (sa, sb, "different-abbreviation", source,
                           (len(sa) < 3, -min(corpus.count(sa), corpus.count(sb)), sa), ())
                continue
            if abbr_a or abbr_b or foreign_token(sa) or foreign_token(sb):
                continue
            wa, wb = words_of(sa), words_of(sb)
            if wa <= wb or wb <= wa:
                continue  # one names a kind of the other (cancer / breast cancer): not clearly different
            shared = {w for w in wa & wb if len(w) >= 3} - stop
            if not shared and abs(len(sa) - len(sb)) > 3:
                continue
            dist = levenshtein(sa.lower(), sb.lower()) if abs(len(sa) - len(sb)) <= 3 else 99
            if dist > 3 and not shared:
                continue
            nwords = max(len(sa.split()), len(sb.split()))
            if nwords > 3 or min(len(sa), len(sb)) < 4:
                continue
            yield (sa, sb, "near-concept", source,
                   (nwords, -min(corpus.count(sa), corpus.count(sb)), sa),
                   ("pair:" + "~".join(sorted((norm[keys[i]], norm[keys[j]]))),)
                   + tuple("word:" + w for w in sorted(wa & wb)))


def pubmedqa_abbreviation_pairs(defs, corpus):
    """Abbreviations the PubMedQA abstracts always define with one long form; pairs of them of one
    length, one letter apart, whose long forms are not compatible()."""
    good = {a: next(iter(c)) for a, c in defs.items()
            if len(c) == 1 and corpus.count(a) >= MIN_SENTENCES}
    keys = sorted(good)
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            a, b = keys[i], keys[j]
            if len(a) == len(b) and levenshtein(a, b) == 1 and not compatible(good[a], good[b]):
                yield (a, b, "different-abbreviation",
                       "pubmedqa definitions: " + good[a] + " vs " + good[b],
                       (len(a) < 3, -min(corpus.count(a), corpus.count(b)), a), ())


def confusable_pairs(data, repo):
    found = collections.defaultdict(set)
    path = os.path.join(data, "confusables", "languagetool_confusion_sets_biomed_subset.txt")
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            if "->" in line:
                a, b = line.split("->")
                b = b.split(";")[0]
            else:
                a, b = line.split(";")[:2]
            found[tuple(sorted((a.strip(), b.strip())))].add("languagetool")
    with open(os.path.join(repo, "data", "confusables", "medical_pairs.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                a, b = line.split()[:2]
                found[tuple(sorted((a, b)))].add("medical_pairs")
    for (a, b), sources in sorted(found.items()):
        if tuple(sorted((a.lower(), b.lower()))) in CONFUSABLE_SAME_LEXEME:
            continue
        yield a, b, "confusable", "+".join(sorted(sources)), (0, a), ()


# ---------------------------------------------------------------------------------------------------
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data"),
                        help="the shared data folder (default ../shared/data)")
    parser.add_argument("--out", default=OUT, help="output TSV (default data/term-pairs/labelled_pairs.tsv)")
    parser.add_argument("--verbose", action="store_true", help="list dropped candidates on stderr")
    args = parser.parse_args()

    corpus = Corpus(read_sentences(args.data))
    pubmedqa_only = Corpus(read_sentences(args.data, ncbi=False))
    mentions, texts = read_ncbi(args.data)
    defs = pubmedqa_definitions(args.data)
    sense = AbbreviationSense(defs, corpus, pubmedqa_only)

    generators = [
        spelling_pairs(corpus, REPO),
        hyphenation_pairs(corpus),
        ncbi_pairs(mentions, texts, corpus, sense),
        pubmedqa_abbreviation_pairs(defs, corpus),
        confusable_pairs(args.data, REPO),
    ]
    candidates = collections.defaultdict(list)
    for gen in generators:
        for a, b, kind, source, rank, groups in gen:
            candidates[kind].append((rank, a, b, source, groups))

    exclude = {tuple(sorted((normal(x), normal(y)))): why for (x, y), why in EXCLUDE.items()}
    chosen = {}  # frozenset({a, b}) -> row
    dropped = []
    for kind in KIND_ORDER:
        kept = 0
        used = collections.Counter()
        for rank, a, b, source, groups in sorted(candidates[kind]):
            pair = frozenset((a, b))
            keys = ("form:" + a, "form:" + b) + groups
            why = None
            if a == b:
                why = "same form"
            elif tuple(sorted((normal(a), normal(b)))) in exclude:
                why = "excluded by hand: " + exclude[tuple(sorted((normal(a), normal(b))))]
            elif min(corpus.count(a), corpus.count(b)) < MIN_SENTENCES:
                why = "a form in fewer than %d sentences" % MIN_SENTENCES
            elif pair in chosen:
                why = "duplicate of a %s pair" % chosen[pair][3]
            elif any(used[k] >= GROUP_CAP.get(k.split(":")[0], 99) for k in keys):
                why = "variety cap (%s)" % ", ".join(k for k in keys if used[k] >= GROUP_CAP.get(k.split(":")[0], 99))
            elif CAP[kind] is not None and kept >= CAP[kind]:
                why = "over the cap of %d" % CAP[kind]
            if why:
                dropped.append((kind, a, b, source, why))
                continue
            used.update(keys)
            chosen[pair] = (a, b, LABEL[kind], kind, source, corpus.count(a), corpus.count(b))
            kept += 1

    rows = sorted(chosen.values(), key=lambda r: (KIND_ORDER.index(r[3]), r[0].lower(), r[0], r[1].lower(), r[1]))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(HEADER)
        f.write("form_a\tform_b\tlabel\tkind\tsource\tcount_a\tcount_b\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")

    if args.verbose:
        for kind, a, b, source, why in dropped:
            print("dropped\t%s\t%s\t%s\t%s\t%s" % (kind, a, b, source, why), file=sys.stderr)
    counts = collections.Counter((r[3], r[2]) for r in rows)
    print("wrote %d pairs to %s" % (len(rows), os.path.relpath(args.out)))
    print("  %-24s %-9s %5s" % ("kind", "label", "pairs"))
    for kind in KIND_ORDER:
        print("  %-24s %-9s %5d" % (kind, LABEL[kind], counts[(kind, LABEL[kind])]))
    for label in ("same", "different"):
        print("  %-24s %-9s %5d" % ("total", label, sum(n for (k, l), n in counts.items() if l == label)))


HEADER = """\
# Labelled pairs of surface forms: do the two forms name the same thing in a manuscript? (label: same / different)
# Made by scripts/make_term_pairs.py (python3 scripts/make_term_pairs.py --data ../shared/data); README.md explains it.
# count_a, count_b: number of distinct sentences of the context corpora in which the form occurs: case-sensitive,
#   regex (?<![\\w-])FORM(?![\\w-]) (no letter, digit, _ or hyphen on either side); every count is >= 2.
# Sources and licences:
#   context corpora and counts: PubMedQA PQA-L abstracts (MIT) and NCBI disease corpus abstracts (NLM public-domain notice);
#   spelling: rule-made pairs checked against SCOWL Hunspell en_GB/en_US (data/hunspell; SCOWL permissive notices);
#   hyphenation: forms found in the context corpora;
#   abbreviation, synonym, near-concept, most different-abbreviation: NCBI disease corpus annotations (NLM public domain);
#   different-abbreviation "pubmedqa definitions": abbreviations defined in PubMedQA PQA-L abstracts (MIT);
#   confusable: derived from LanguageTool's English confusion sets (subset in ../shared/data/confusables,
#   LGPL-2.1-or-later) and from data/confusables/medical_pairs.txt (MIT, this repository).
"""

if __name__ == "__main__":
    main()
