"""The semantic cache's guard: a hit also needs query and stored text to agree on the words that flip meaning.

Embeddings place "book 2 seats" next to "book 3 seats" and "is a refund allowed" next to "is a refund not
allowed": most of the words are shared. The guard compares what changes the answer cheaply, without a
model, and refuses a hit when the two texts disagree on any of it (``disagreements(a, b)`` lists why):

- **numbers**: digits (``2``, ``1,000``, ``3.5``, ``6:30``, ``14th``) and number words (``two`` … ``ninety``,
  ``hundred``, ``first`` … ``tenth``; not ``one``, which is usually a pronoun), each with its unit when one
  follows or a currency sign precedes (``5 km`` = ``5 kilometres`` ≠ ``5 miles``; ``$5`` ≠ ``€5``). The
  multisets of (value, unit) must be equal.
- **units**: the units of measure, data size, temperature and currency named anywhere (``grams`` vs
  ``ounces``, ``MB`` vs ``GB``, ``Celsius`` vs ``Fahrenheit``; time units only next to a number or after
  ``per``). The sets must be equal.
- **negation**: the number of negation cues (``not``, ``no``, ``never``, ``without``, ``cannot``, ``…n't``, and
  apostrophe-less ``dont``/``cant``/…) must be equal; a word and its negated or reversed form (``safe`` /
  ``unsafe``, ``lock`` / ``unlock``, ``encrypt`` / ``decrypt``, ``upload`` / ``download``) on opposite sides
  disagree; so do opposites from a fixed list (``on``/``off``, ``add``/``remove``, ``minimum``/``maximum``…).
- **dates and times**: weekdays, month names, ``today``/``tomorrow``/``yesterday``/``tonight`` and
  ``this|next|last`` + a period must be the same sets; parts of the day (``morning``, ``evening``…) disagree
  only when both texts name one (and ``good morning`` is a greeting, not a time).
- **names**: words that look like names without a model — capitalised but not the first word of a
  sentence, ALL-CAPS, mixed case or letters with digits (``Paris``, ``USB``, ``iPhone``, ``Q1``). Each name of
  one text must appear as a word of the other (case-insensitively, ignoring ``'s``, or as a prefix of at
  least 3 letters: ``Mac`` ~ ``macOS``).

A text with none of these tokens agrees with any other text on them, so the guard never blocks a
paraphrase that does not touch numbers, negations, dates or names. It is English-centric and cheap
(regular expressions over two short texts; bench/semantic_quality.py times it) and knows nothing of synonyms: "cancel" vs
"renew" is left to the similarity threshold. Pure standard library, so the Redis tier and the bench can
both use it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .semantic_lexicon import (
    TIME_UNITS,
    UNIT_OF,
    _ABBREVIATIONS,
    _APOSTROPHE_LESS,
    _BARE_UNIT_EXCLUDED,
    _DEICTICS,
    MONTHS,
    NEGATIONS,
    _NOT_NAMES,
    _NUMBER_RE,
    NUMBER_WORDS,
    OPPOSITES,
    _ORDINAL_SUFFIXES,
    ORDINAL_WORDS,
    PARTS_OF_DAY,
    _PERIODS,
    PREFIX_OPPOSITES,
    RELATIVE_DAYS,
    _SENTENCE_END_RE,
    _UNITS,
    WEEKDAYS,
    _WORD_RE,
)


@dataclass(frozen=True)
class Meaning:
    """What the guard compares of one text."""

    quantities: Counter  # (value, unit or "") → count
    units: frozenset
    negations: int
    words: frozenset  # lower-cased words, "'s" removed
    dates: frozenset  # weekdays, months, relative days, "next week"…
    parts_of_day: frozenset
    names: frozenset


def _value(text: str) -> float | str:
    if ":" in text:
        return text  # a clock time or a ratio: compared as written
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text


def _unit(word: str | None, *, bare: bool = False) -> str | None:
    if not word:
        return None
    lowered = word.lower().rstrip(".")
    if bare and lowered in _BARE_UNIT_EXCLUDED:
        return None
    return UNIT_OF.get(lowered)


def _quantities(text: str) -> tuple[Counter, set[str], set[str]]:
    """(value, unit) of every number; units seen; alphanumeric tokens (``2FA``, ``Q1``) that are names."""
    found: Counter = Counter()
    units: set[str] = set()
    names: set[str] = set()
    for match in _NUMBER_RE.finditer(text):
        start = match.start("num")
        if start > 0 and (text[start - 1].isalpha() or text[start - 1] == "_"):
            names.add(_alnum_token(text, start))  # Q1, S24, mp3: part of a name
            continue
        value, suffix, unit = _value(match["num"]), match["suffix"], None
        if suffix:
            if suffix.lower() in _ORDINAL_SUFFIXES:
                value = ("ord", value)
            else:
                unit = _unit(suffix)
                if unit is None:
                    names.add(_alnum_token(text, start))  # 2FA, 4K, 5G
                    continue
        if unit is None and match["cur"]:
            unit = UNIT_OF[match["cur"]]
        if unit is None:
            unit = _unit(match["unit"])
        if unit:
            units.add(unit)
        found[(value, unit or "")] += 1
    return found, units, names


def _alnum_token(text: str, index: int) -> str:
    start = index
    while start > 0 and (text[start - 1].isalnum()):
        start -= 1
    end = index
    while end < len(text) and text[end].isalnum():
        end += 1
    return text[start:end].lower()


_OPENERS = frozenset(" \t\"'“‘(*-–—")
_BEFORE_DOT = re.compile(r"[\w.]+$")
_ABBREVIATION_WINDOW = max(map(len, _ABBREVIATIONS)) + 2


def _sentence_initial(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens a sentence. Looks back only over the characters between it and
    the previous word, and at most _ABBREVIATION_WINDOW more: a text costs linear time (it used to copy
    the whole text before each word)."""
    end = start
    while end > 0 and text[end - 1] in _OPENERS:
        end -= 1
    if end == 0:
        return True
    if text[end - 1] in ":;\n!?":
        return True
    if text[end - 1] == ".":
        low = max(0, end - 1 - _ABBREVIATION_WINDOW)
        previous = _BEFORE_DOT.search(text, low, end - 1)
        if previous and previous.start() == low and low > 0:
            return True  # longer than any abbreviation
        return not (previous and previous.group(0).lower() in _ABBREVIATIONS)
    return False


def meaning(text: str) -> Meaning:
    """Parse ``text`` into the tokens the guard compares (pure, deterministic; any string is accepted)."""
    # long: one pass over the words collects numbers, negations, dates and names; two passes would read the text twice
    quantities, units, names = _quantities(text)
    words: list[str] = []
    negations = 0
    dates: set[str] = set()
    parts: set[str] = set()
    matches = list(_WORD_RE.finditer(text))
    for position, match in enumerate(matches):
        raw = match.group(0).replace("’", "'")
        lower = raw.lower()
        if lower.endswith("'s"):
            lower = lower[:-2]
        words.append(lower)
        if lower in NEGATIONS or lower.endswith("n't") or lower in _APOSTROPHE_LESS:
            negations += 1
        previous = words[-2] if len(words) > 1 else ""
        if lower in NUMBER_WORDS and not any(c.isdigit() for c in raw):
            following = matches[position + 1].group(0) if position + 1 < len(matches) else None
            unit = _unit(following)
            quantities[(float(NUMBER_WORDS[lower]), unit or "")] += 1
            if unit:
                units.add(unit)
        elif lower in ORDINAL_WORDS and not (lower == "second" and previous in {"a", "one", "per", "each"}):
            quantities[(("ord", float(ORDINAL_WORDS[lower])), "")] += 1
        unit = _unit(lower, bare=True)
        if unit and unit not in TIME_UNITS and unit != "clock":
            units.add(unit)
        elif unit in TIME_UNITS and previous == "per":
            units.add("per " + unit)
        initial = _sentence_initial(text, match.start())
        following = matches[position + 1].group(0) if position + 1 < len(matches) else ""
        if lower in WEEKDAYS or lower in RELATIVE_DAYS or (lower in MONTHS and _is_month(lower, raw, initial, previous, following)):
            dates.add(lower)
        if previous in {"degree", "degrees", "deg"} and lower in {"c", "f", "k"}:
            units.add(UNIT_OF[lower])  # "200 degrees C"
        if previous in _DEICTICS and lower in _PERIODS:
            dates.add(f"{previous} {lower}")
        if lower in PARTS_OF_DAY and previous != "good":
            parts.add(lower)
        if _looks_like_name(raw, initial) and lower not in _NOT_NAMES and lower not in UNIT_OF:
            names.add(lower)
    names -= {str(number) for number in range(10)}
    return Meaning(quantities, frozenset(units), negations, frozenset(words), frozenset(dates), frozenset(parts), frozenset(names))


def _is_month(lower: str, raw: str, initial: bool, previous: str, following: str) -> bool:
    """"may" and "march" are months only next to a day number or capitalised mid-sentence."""
    if lower not in {"may", "march"}:
        return True
    return (raw[0].isupper() and not initial) or following[:1].isdigit() or previous[:1].isdigit() or previous == "of"


def _looks_like_name(word: str, initial: bool) -> bool:
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return False
    if any(c.isdigit() for c in word):
        return True
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return word.lower() not in _NOT_NAMES  # USB, JSON, CSS
    if any(c.isupper() for c in word[1:]):
        return True  # iPhone, macOS, KeyError
    return word[0].isupper() and not initial


def _name_found(name: str, words: frozenset) -> bool:
    """``name`` is a word of the other text, or a prefix either way (>= 3 letters), or one letter short (>= 6 letters: a typo)."""
    if name in words:
        return True
    for word in words:
        if len(word) >= 3 and len(name) >= 3 and (word.startswith(name) or name.startswith(word)):
            return True
        if min(len(word), len(name)) >= 6 and abs(len(word) - len(name)) == 1 and _one_letter_apart(word, name):
            return True
    return False


def _one_letter_apart(one: str, other: str) -> bool:
    """True when deleting one letter of the longer word gives the shorter (a typo, not another name)."""
    short, long = sorted((one, other), key=len)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


def _opposed(one: frozenset, other: frozenset) -> str | None:
    only_one, only_other = one - other, other - one
    if not only_one or not only_other:
        return None
    for left, right in OPPOSITES:
        for mine, theirs in ((left, right), (right, left)):
            here = next((word for word in mine if word in only_one), None)
            there = next((word for word in theirs if word in only_other), None)
            if here and there:
                return f"{here} / {there}"
    for word in only_one:
        for first, second in PREFIX_OPPOSITES:
            for mine, theirs in ((first, second), (second, first)):
                if word.startswith(mine) and len(word) - len(mine) >= 4 and theirs + word[len(mine) :] in only_other:
                    return f"{word} / {theirs + word[len(mine):]}"
    return None


def disagreements(a: str, b: str) -> list[str]:
    """Why ``a`` and ``b`` must not share a cached answer; empty when they agree. Symmetric."""
    one, other = meaning(a), meaning(b)
    reasons = []
    if one.quantities != other.quantities:
        reasons.append("numbers")
    if one.units != other.units:
        reasons.append("units")
    if one.negations != other.negations:
        reasons.append("negation")
    opposed = _opposed(one.words, other.words)
    if opposed:
        reasons.append(f"opposites ({opposed})")
    if one.dates != other.dates or (one.parts_of_day and other.parts_of_day and one.parts_of_day != other.parts_of_day):
        reasons.append("dates")
    # names come from two tokenisers (words, and alphanumeric tokens such as "0d" inside "0d'0"): look in both
    one_tokens, other_tokens = one.words | one.names, other.words | other.names
    missing = [n for n in one.names if not _name_found(n, other_tokens)] + [n for n in other.names if not _name_found(n, one_tokens)]
    if missing:
        reasons.append(f"names ({', '.join(sorted(set(missing))[:3])})")
    return reasons


def agree(a: str, b: str) -> bool:
    """True when nothing the guard checks tells ``a`` and ``b`` apart (see the module docstring)."""
    return not disagreements(a, b)
