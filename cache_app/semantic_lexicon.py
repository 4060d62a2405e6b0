"""Word lists and patterns the semantic-cache guard reads (English): numbers, units, negations, opposites, dates, names."""

from __future__ import annotations

import re


_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_NUMBER_RE = re.compile(
    r"(?P<cur>[$€£¥])?\s?(?P<num>\d+(?:[.,:]\d+)*)(?P<suffix>%|°|[^\W\d_]+)?(?:\s+(?P<unit>[^\W\d_]+(?:/[^\W\d_]+)?|%))?",
    re.UNICODE,
)
_SENTENCE_END_RE = re.compile(r"[.!?\n]")
_ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "st", "prof", "e.g", "i.e", "etc", "vs", "no", "jr", "sr", "mt"}

NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000, "million": 10**6,
    "billion": 10**9, "dozen": 12, "half": 0.5, "twice": 2, "double": 2, "triple": 3,
}  # fmt: skip
ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10,
}  # fmt: skip
_ORDINAL_SUFFIXES = {"st", "nd", "rd", "th"}

# unit aliases → canonical unit; "time" units count only next to a number or after "per"
_UNITS = {
    "length": "mm millimetre millimetres millimeter millimeters|cm centimetre centimetres centimeter centimeters|"
    "m metre metres meter meters|km kilometre kilometres kilometer kilometers kms|in inch inches|ft foot feet|"
    "yd yard yards|mi mile miles",
    "mass": "mg milligram milligrams|g gram grams gr|kg kilo kilos kilogram kilograms kgs|oz ounce ounces|"
    "lb lbs pound_weight|st_weight stone|t tonne tonnes ton tons",
    "volume": "ml millilitre millilitres milliliter milliliters|l litre litres liter liters|"
    "gal gallon gallons|pt pint pints|cup cups|tsp teaspoon teaspoons|tbsp tablespoon tablespoons|"
    "floz",
    "temperature": "c celsius centigrade|f fahrenheit|k kelvin|deg degree degrees °",
    "data": "b byte bytes|kb kilobyte kilobytes|mb megabyte megabytes|gb gigabyte gigabytes|"
    "tb terabyte terabytes|bit bits|mbps|gbps|kbps",
    "frequency": "hz hertz|khz kilohertz|mhz megahertz|ghz gigahertz",
    "speed": "kmh km/h kph|mph miles/h|m/s",
    "currency": "usd $ dollar dollars bucks|eur € euro euros|gbp £ pound pounds quid|jpy ¥ yen|"
    "chf franc francs|inr rupee rupees|cad|aud",
    "share": "% percent per_cent percentage",
    "area": "sqm sqft acre acres hectare hectares ha",
    "energy": "w watt watts|kw kilowatt kilowatts|kwh|v volt volts|a_amp amp amps ampere|mah|cal calorie calories|kcal",
    "clock": "am a.m|pm p.m",
    "time": "ms millisecond milliseconds|s sec secs second seconds|min mins minute minutes|h hr hrs hour hours|"
    "day days|week weeks|month months|year years|yr yrs|night nights",
}
UNIT_OF: dict[str, str] = {}
TIME_UNITS: set[str] = set()
for _kind, _groups in _UNITS.items():
    for _group in _groups.split("|"):
        _names = _group.split()
        for _name in _names:
            UNIT_OF.setdefault(_name, _names[0])
        if _kind == "time":
            TIME_UNITS.add(_names[0])
# one-letter units are too ambiguous on their own ("a", "in", "t"): only right after a number
_BARE_UNIT_EXCLUDED = {"am", "pm", "m", "in", "g", "gr", "c", "f", "k", "b", "l", "t", "st", "s", "h", "a", "w", "v", "pt", "cup", "cups", "cal"}

NEGATIONS = {"not", "no", "never", "none", "nothing", "nobody", "nowhere", "neither", "nor", "without", "cannot", "nope"}
_APOSTROPHE_LESS = {"dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "cant", "wont", "wouldnt",
                    "shouldnt", "couldnt", "hasnt", "havent", "hadnt", "mustnt", "neednt", "aint"}  # fmt: skip
# (prefix of one form, prefix of the other form); the rest (the stem, >= 4 letters) is shared
PREFIX_OPPOSITES = [("", "un"), ("", "dis"), ("", "non"), ("", "in"), ("", "im"), ("", "ir"), ("", "il"), ("", "de"),
                    ("en", "de"), ("en", "dis"), ("in", "de"), ("im", "ex"), ("in", "ex"), ("up", "down"), ("in", "out"),
                    ("over", "under"), ("pre", "post"), ("a", "de")]  # fmt: skip
# pairs of opposing word sets: a text using one side and the other text the other side disagree
OPPOSITES = [
    (x.split(), y.split())
    for x, y in (
        ("on", "off"), ("open", "close closed"), ("start", "stop"), ("add", "remove delete"), ("create", "delete remove"),
        ("buy", "sell"), ("gain", "lose"), ("win", "lose"), ("accept accepting", "decline declining reject rejecting"),
        ("earlier", "later"), ("before", "after"), ("more", "less fewer"), ("minimum min", "maximum max"),
        ("average median", "minimum maximum min max"), ("above", "below"), ("higher", "lower"), ("stronger", "weaker"),
        ("faster", "slower"), ("up", "down"), ("push", "pull"), ("allow", "deny block"), ("true", "false"), ("yes", "no"),
        ("hot", "cold"), ("left", "right"), ("north", "south"), ("east", "west"), ("best", "worst"),
        ("oldest", "newest"), ("first", "last"), ("follow", "unfollow block"), ("join", "leave"),
    )
]  # fmt: skip
WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}
RELATIVE_DAYS = {"today", "tonight", "tomorrow", "yesterday"}
PARTS_OF_DAY = {"morning", "afternoon", "evening", "night", "noon", "midday", "midnight", "overnight"}
_DEICTICS = {"this", "next", "last", "previous", "coming"}
_PERIODS = {"week", "weekend", "month", "year", "quarter", "season", "summer", "winter", "spring", "autumn", "fall"} | WEEKDAYS
# capitalised mid-sentence without being names: the pronoun, and greetings written without punctuation
_NOT_NAMES = {"i", "i'm", "i'd", "i've", "i'll", "ok", "okay", "a", "thanks", "thank", "please", "hi", "hello", "hey",
              "cheers", "regards", "sorry", "dear", "best", "kind", "yes", "no"}  # fmt: skip
