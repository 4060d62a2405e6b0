"""The semantic cache's guard: texts that differ in a number, unit, negation, date or name never agree;
edits that keep those (politeness, case, punctuation, number words, unit spellings, contractions) do.
"""

import ast
import re
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cache_app import semantic_guard
from cache_app.semantic_guard import agree, disagreements

TEMPLATES = [
    "book {n} seats for the show",
    "Set a timer for {n} minutes.",
    "I need a table for {n} people tonight",
    "What is {n} percent of the total?",
    "Order {n} boxes of printer paper",
]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten", 12: "twelve", 20: "twenty"}
UNITS = [("km", "kilometres"), ("miles", "mi"), ("kg", "kilograms"), ("lb", "lbs"), ("ml", "millilitres"), ("mg", "milligrams"),
         ("GB", "gigabytes"), ("MB", "megabytes"), ("minutes", "mins"), ("hours", "hrs")]  # fmt: skip
CITIES = ["Paris", "London", "Vienna", "Venice", "Lisbon", "Oslo", "Tokyo", "Austria", "Australia", "Maria", "Mario", "Berlin"]
SENTENCES = [
    "Is a refund allowed after 30 days?",
    "Book 2 seats on the 7pm flight to Paris.",
    "I do not want onions on the pizza for Friday.",
    "Convert 5 km to miles, please.",
    "Why doesn't my Docker container start on Ubuntu?",
    "Schedule the meeting with John on March 3 at 6:30.",
    "How do I reset my password?",
]
POLITE = st.sampled_from(["", "Hi! ", "Hello, ", "Please, ", "Could you tell me: ", "Sorry to bother you. "])
THANKS = st.sampled_from(["", " Thanks!", " Thank you so much.", " Cheers", " please"])


@given(st.sampled_from(TEMPLATES), st.integers(0, 10**6), st.integers(0, 10**6))
def test_a_changed_number_never_agrees(template, n, m):
    assert agree(template.format(n=n), template.format(n=m)) == (n == m)


@given(st.sampled_from(sorted(NUMBER_WORDS)), st.sampled_from(sorted(NUMBER_WORDS)), st.sampled_from(TEMPLATES))
def test_number_words_and_digits_agree(n, m, template):
    assert agree(template.format(n=n), template.format(n=NUMBER_WORDS[n]))
    assert agree(template.format(n=n), template.format(n=NUMBER_WORDS[m])) == (n == m)


@given(st.integers(1, 500), st.sampled_from(UNITS), st.sampled_from(UNITS))
def test_the_unit_of_a_number_must_match_but_its_spelling_need_not(n, unit, other):
    assert agree(f"Convert {n} {unit[0]} please", f"Convert {n} {unit[1]} please")
    if unit != other:
        assert not agree(f"Convert {n} {unit[0]} please", f"Convert {n} {other[0]} please")


@given(st.sampled_from(["Is a refund allowed?", "Can I bring liquids?", "Which foods are safe for dogs?", "Show hotels with parking."]),
       st.sampled_from([("allowed", "not allowed"), ("Can I", "Can't I"), ("safe", "unsafe"), ("with", "without"), ("are", "are never")]))  # fmt: skip
def test_a_negation_never_agrees_with_its_absence(text, change):
    old, new = change
    if old in text:
        assert not agree(text, text.replace(old, new, 1))


@given(st.sampled_from(CITIES), st.sampled_from(CITIES))
def test_another_name_never_agrees(one, other):
    assert agree(f"Book a flight to {one} tomorrow.", f"Book a flight to {other} tomorrow.") == (one == other)


@given(st.sampled_from(["Monday", "Friday", "today", "tomorrow", "next week", "last month", "this weekend"]),
       st.sampled_from(["Monday", "Friday", "today", "tomorrow", "next week", "last month", "this weekend"]))  # fmt: skip
def test_another_day_never_agrees(one, other):
    assert agree(f"Remind me {one} to call the dentist", f"Remind me {other} to call the dentist") == (one == other)


@st.composite
def preserving_edit(draw):
    """A sentence and a variant with the same numbers, units, negations, dates and names."""
    sentence = draw(st.sampled_from(SENTENCES))
    edited = draw(POLITE) + sentence.rstrip("?.!") + draw(st.sampled_from(["?", ".", "!", "", " ?"])) + draw(THANKS)
    if draw(st.booleans()):
        edited = edited.replace("do not", "don't").replace("doesn't", "does not")
    if draw(st.booleans()):
        edited = re.sub(r"\b2\b", "two", edited).replace("5 km", "5 kilometres")
    if draw(st.booleans()):
        edited = edited.lower()
    if draw(st.booleans()):
        edited = "  ".join(edited.split(" "))
    return sentence, edited


@given(preserving_edit())
def test_meaning_preserving_edits_agree(pair):
    sentence, edited = pair
    assert agree(sentence, edited), disagreements(sentence, edited)


@settings(max_examples=300)
@given(st.text(max_size=80), st.text(max_size=80))
def test_any_text_is_accepted_and_the_verdict_is_symmetric_and_reflexive(a, b):
    assert agree(a, a)
    assert agree(a, b) == agree(b, a)


def test_reasons_are_named():
    assert disagreements("Book 2 seats", "Book 3 seats") == ["numbers"]
    assert disagreements("Is it allowed?", "Is it not allowed?") == ["negation"]
    assert disagreements("Convert 5 km to miles", "Convert 5 miles to km") == ["numbers"]
    assert disagreements("How do I lock the screen?", "How do I unlock the screen?") == ["opposites (lock / unlock)"]
    assert disagreements("Send it to Maria.", "Send it to Mario.") == ["names (maria, mario)"]
    assert disagreements("Good morning! How do I reset my password?", "How do I reset my password") == []


def test_the_guard_imports_only_the_standard_library():
    tree = ast.parse(Path(semantic_guard.__file__).read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}
