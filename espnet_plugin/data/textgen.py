"""The project's own seeded English sentence generator (no external text needed).

Sentences come from a small grammar (statements, questions, numbers, times, quotes of
names, optional prepositional / adverbial / coordinated extensions) over a vocabulary of a
few hundred common words.  Output is LibriSpeech-style normalised text: upper-case letters,
apostrophes and single spaces only.  The same words (lower-cased, see :func:`to_synth_text`)
are given to the speech synthesiser, so the transcript is exact.
"""
from __future__ import annotations

import random
import re
import unicodedata
from typing import Callable

from espnet_plugin.errors import ConfigError

NAMES = """mary john alice peter susan david emma james lucy thomas anna robert sarah
william laura george helen richard kate henry clara edward grace arthur rose frank""".split()
NOUNS = """dog cat bird horse teacher doctor farmer child woman man king queen sailor
captain baker driver student friend neighbour brother sister mother father girl boy
soldier painter writer singer""".split()
THINGS = """book letter box apple door window table chair garden river bridge road house
car boat train ship basket lamp clock picture song story coat hat ball key bottle cup
ticket map stone flower tree bell candle bag""".split()
PLACES = """market village city forest kitchen station library school church harbour
hill valley park field castle garden shop office island beach""".split()
ADJECTIVES = """old young small large happy quiet bright dark warm cold heavy gentle
strange clever brave tired busy careful lucky proud kind green red blue white yellow
little tall short early late quick slow simple noisy""".split()
ADVERBS = """slowly quickly quietly carefully gladly suddenly often never always
happily nearly finally""".split()
TIMES = """yesterday today tomorrow tonight""".split() + [
    "this morning", "last night", "every evening", "after dinner", "before noon",
    "on monday", "on friday", "in the spring", "in the winter", "at dawn",
]
# (base, third person, past)
VERBS_T = [
    ("see", "sees", "saw"), ("find", "finds", "found"), ("carry", "carries", "carried"),
    ("open", "opens", "opened"), ("paint", "paints", "painted"), ("bring", "brings", "brought"),
    ("take", "takes", "took"), ("hold", "holds", "held"), ("watch", "watches", "watched"),
    ("clean", "cleans", "cleaned"), ("move", "moves", "moved"), ("sell", "sells", "sold"),
    ("buy", "buys", "bought"), ("keep", "keeps", "kept"), ("lose", "loses", "lost"),
    ("read", "reads", "read"), ("follow", "follows", "followed"), ("draw", "draws", "drew"),
    ("fix", "fixes", "fixed"), ("send", "sends", "sent"), ("hide", "hides", "hid"),
    ("throw", "throws", "threw"), ("catch", "catches", "caught"), ("like", "likes", "liked"),
]
VERBS_I = [
    ("sleep", "sleeps", "slept"), ("wait", "waits", "waited"), ("laugh", "laughs", "laughed"),
    ("sing", "sings", "sang"), ("run", "runs", "ran"), ("walk", "walks", "walked"),
    ("smile", "smiles", "smiled"), ("arrive", "arrives", "arrived"), ("rest", "rests", "rested"),
    ("work", "works", "worked"), ("dance", "dances", "danced"), ("talk", "talks", "talked"),
]
PREPS = "in near behind under beside across through".split()
WH = ["where", "why", "when", "how"]
FEELINGS = ["i think that", "she said that", "he knew that", "we heard that",
            "it seems that", "they told me that", "nobody believed that"]
CONTRACTIONS = ["can't", "won't", "didn't", "couldn't", "wouldn't"]
COPULA_NEG = ["isn't", "wasn't"]

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    """Spell out 0 <= n < 1,000,000 in English words (``'three hundred and two'``)."""
    if not 0 <= n < 1_000_000:
        raise ConfigError(f"number_to_words: {n} outside [0, 1000000)")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_to_words(rest))
    rest = n % 1000
    head = number_to_words(n // 1000) + " thousand"
    if rest == 0:
        return head
    return head + (" and " if rest < 100 else " ") + number_to_words(rest)


def normalize_text(text: str) -> str:
    """LibriSpeech-style normalisation: upper case, only ``A-Z``, ``'`` and single spaces.

    Accents are stripped (``café`` -> ``CAFE``), typographic apostrophes become ``'``,
    hyphens and other punctuation become spaces; digits are removed (spell numbers first).
    """
    t = text.replace("\u2019", "'").replace("\u2018", "'")
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode("ascii")
    t = t.upper().replace("-", " ")
    t = re.sub(r"[^A-Z' ]+", " ", t)
    t = re.sub(r"(?<![A-Z])'|'(?![A-Z])", " ", t)  # keep only word-internal apostrophes
    return " ".join(t.split())


def to_synth_text(transcript: str) -> str:
    """The text given to the synthesiser: the transcript in lower case.

    (espeak-ng spells some all-capital words letter by letter, e.g. ``US``.)
    """
    return transcript.lower()


def plural(noun: str) -> str:
    """English plural of the nouns in this vocabulary."""
    irregular = {"man": "men", "woman": "women", "child": "children"}
    if noun in irregular:
        return irregular[noun]
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


class _Grammar:
    """Random phrase builders over the vocabulary (one ``random.Random`` for reproducibility)."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def c(self, seq):  # noqa: D401 - tiny helper
        return self.r.choice(seq)

    def np(self, animate: bool = False) -> str:
        """A noun phrase: ``the old dog``, ``mary``, ``three red apples``, ``her book``."""
        k = self.r.random()
        if k < 0.25:
            return self.c(NAMES)
        noun = self.c(NOUNS if animate else NOUNS + THINGS)
        adj = self.c(ADJECTIVES) + " " if self.r.random() < 0.5 else ""
        if k < 0.4:
            return f"{number_to_words(self.r.randint(2, 12))} {adj}{plural(noun)}"
        if k < 0.5:
            return f"{self.c(['his', 'her', 'our', 'their', 'my'])} {adj}{noun}"
        return f"the {adj}{noun}"

    def place(self) -> str:
        return f"{self.c(PREPS)} the {self.c(PLACES)}"

    def tail(self) -> str:
        """Optional extension: place, time, adverb, or a coordinated clause."""
        k = self.r.random()
        if k < 0.3:
            return " " + self.place()
        if k < 0.5:
            return " " + self.c(TIMES)
        if k < 0.6:
            return " " + self.c(ADVERBS)
        if k < 0.75:
            return f" and {self.np(True)} {self.c(VERBS_I)[2]}"
        return ""

    def statement(self) -> str:
        v = self.c(VERBS_T)
        return f"{self.np(True)} {v[2]} {self.np()}{self.tail()}"

    def intransitive(self) -> str:
        v = self.c(VERBS_I)
        return f"{self.np(True)} {v[2]} {self.place()}{self.tail()}"

    def question(self) -> str:
        k = self.r.random()
        if k < 0.35:
            return f"did {self.np(True)} {self.c(VERBS_T)[0]} {self.np()}{self.tail()}"
        if k < 0.7:
            return f"{self.c(WH)} did {self.np(True)} {self.c(VERBS_I)[0]}{self.tail()}"
        return f"is {self.np()} {self.c(ADJECTIVES)}{self.tail()}"

    def quantity(self) -> str:
        n = self.r.choice([self.r.randint(2, 20), self.r.randint(20, 999), self.r.randint(1000, 9999)])
        return f"there were {number_to_words(n)} {plural(self.c(THINGS))} {self.place()}"

    def clock(self) -> str:
        h = number_to_words(self.r.randint(1, 12))
        return f"{self.np(True)} {self.c(VERBS_I)[2]} at {h} o'clock{self.tail()}"

    def reported(self) -> str:
        return f"{self.c(FEELINGS)} {self.statement()}"

    def negative(self) -> str:
        name = self.c(NAMES)
        if self.r.random() < 0.3:
            return f"{name} {self.c(COPULA_NEG)} {self.c(ADJECTIVES)}{self.tail()}"
        return f"{name} {self.c(CONTRACTIONS)} {self.c(VERBS_T)[0]} {self.np()}{self.tail()}"

    def possessive(self) -> str:
        return f"{self.c(NAMES)}'s {self.c(THINGS)} was {self.c(ADJECTIVES)}{self.tail()}"

    def imperative(self) -> str:
        v = self.c(VERBS_T)
        return f"please {v[0]} {self.np()} {self.place()}"

    def templates(self) -> list[Callable[[], str]]:
        return [self.statement, self.statement, self.intransitive, self.question, self.question,
                self.quantity, self.clock, self.reported, self.negative, self.possessive,
                self.imperative]


def vocabulary() -> set[str]:
    """Every word the grammar can produce (normalised, upper case)."""
    words: set[str] = set()
    groups = [NAMES, NOUNS, THINGS, PLACES, ADJECTIVES, ADVERBS, TIMES, PREPS, WH, FEELINGS,
              CONTRACTIONS, COPULA_NEG, [plural(n) for n in NOUNS + THINGS], _ONES, _TENS[2:],
              [w for v in VERBS_T + VERBS_I for w in v], [f"{n}'s" for n in NAMES],
              ["the his her our their my and there were at o'clock did is was please "
               "hundred thousand"]]
    for g in groups:
        for phrase in g:
            words.update(normalize_text(phrase).split())
    return words


def generate_sentences(n: int, seed: int, min_words: int = 4, max_words: int = 14) -> list[str]:
    """Generate ``n`` distinct normalised sentences, reproducibly from ``seed``.

    Args:
        n: number of sentences.
        seed: random seed (same seed -> same list).
        min_words, max_words: inclusive bounds on the number of words per sentence.
    Returns:
        list of ``n`` distinct upper-case sentences (``A-Z``, ``'``, spaces).
    Raises:
        ConfigError: bad bounds, or ``n`` distinct sentences cannot be found.
    """
    if n < 0 or min_words < 1 or max_words < min_words:
        raise ConfigError(
            f"generate_sentences: need n >= 0 and 1 <= min_words <= max_words "
            f"(got n={n}, min_words={min_words}, max_words={max_words})"
        )
    rng = random.Random(f"textgen-{seed}")
    g = _Grammar(rng)
    templates = g.templates()
    out: list[str] = []
    seen: set[str] = set()
    misses = 0  # consecutive draws that gave nothing new
    while len(out) < n:
        misses += 1
        if misses > 5000:
            raise ConfigError(
                f"generate_sentences: found only {len(out)} of {n} distinct sentences with "
                f"{min_words}-{max_words} words; widen the word range"
            )
        s = normalize_text(rng.choice(templates)())
        if min_words <= len(s.split()) <= max_words and s not in seen:
            seen.add(s)
            out.append(s)
            misses = 0
    return out
