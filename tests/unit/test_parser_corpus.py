"""The parser against corpora of customer messages in eight languages.

The corpus is tests/data/parser_corpus.yaml (its header says how an entry reads); the held-out
corpora (parser_heldout.yaml, parser_heldout_fresh.yaml, parser_heldout2.yaml,
parser_heldout3.yaml) have the same format and were each written, and measured once, before the
parser was changed for them, to estimate how its rules generalise (do not tune the parser to
their lines).

Prints, for each corpus, per language and per category, how many messages were understood (the
parse equals the expected one) and how many produced an unrequested dispatch (a refill, speed or
cancel of an order the customer did not ask for); asserts at least 97 % understood and no
unrequested dispatch at all, and that parsing the whole corpus stays fast.
"""
from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from app.domain.parser import ACTING_ACTIONS, ParseResult, parse
from app.domain.replies import ACTION_WORDS, ask_choices

CORPUS_PATH = Path(__file__).resolve().parents[1] / "data" / "parser_corpus.yaml"
HELDOUT_PATH = CORPUS_PATH.with_name("parser_heldout.yaml")
# 40 more held-out messages, written after the parser was fixed against parser_heldout.yaml
FRESH_PATH = CORPUS_PATH.with_name("parser_heldout_fresh.yaml")
# 120 more, in another voice (long chats, forwarded tickets, mixed scripts, numbers of every
# form), written before looking at the parser and measured once before any change
HELDOUT2_PATH = CORPUS_PATH.with_name("parser_heldout2.yaml")
# 48 more, written after the fixes for parser_heldout2.yaml, measured once before any change
HELDOUT3_PATH = CORPUS_PATH.with_name("parser_heldout3.yaml")
LANGUAGES = ("en", "es", "pt", "ru", "tr", "id", "ar", "hi")
CATEGORIES = (
    "plain", "count", "date", "service", "username", "phone", "amount", "question", "advice",
    "either", "negation", "correction", "status_of_action", "quoted_reply", "alias_collision",
    "vocabulary", "typo", "chatty", "conversation",
)
MIN_UNDERSTOOD = 0.97
# each corpus, parsed after a warm-up, best of three in CPU time, per message. A guard against
# an order-of-magnitude regression, not a benchmark: the held-out sets' long chats take
# 450-650 µs a message on a shared 2-core machine (our own corpus about 180 µs), so the bound
# leaves room for the machine's own variation (it was 550 µs and failed with no code change)
MAX_MESSAGE_US = 1000.0


def load_corpus(path: Path = CORPUS_PATH) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


CORPUS = load_corpus()
HELDOUT = load_corpus(HELDOUT_PATH)
FRESH = load_corpus(FRESH_PATH)
HELDOUT2 = load_corpus(HELDOUT2_PATH)
HELDOUT3 = load_corpus(HELDOUT3_PATH)
#: name → (entries, the least number of entries); the larger ones hold every category
CORPORA = {"corpus": (CORPUS, 300), "held-out": (HELDOUT, 200), "fresh held-out": (FRESH, 40),
           "held-out 2": (HELDOUT2, 120), "held-out 3": (HELDOUT3, 48)}


def canonical(result: ParseResult) -> frozenset[tuple]:
    """The parse as comparable parts: (action, ids) per command, ("ask", ids, actions)."""
    parts: set[tuple] = set()
    for command in result.commands:
        parts.add((command.action, frozenset(command.order_ids)))
    for question in result.ambiguous:
        parts.add(("ask", frozenset(question.order_ids), frozenset(question.actions)))
    return frozenset(parts)


def expected_parts(expect: str) -> frozenset[tuple]:
    if expect.strip() == "none":
        return frozenset()
    parts: set[tuple] = set()
    for part in expect.split(";"):
        words = part.split()
        ids = frozenset(words[1].split(",")) if len(words) > 1 else frozenset()
        if words[0] == "ask":
            parts.add(("ask", ids, frozenset(words[2].split("/"))))
        else:
            parts.add((words[0], ids))
    return frozenset(parts)


def dispatches(parts: frozenset[tuple]) -> set[tuple[str, str]]:
    """Every (acting action, order id) a parse would send to a provider."""
    return {(part[0], order_id) for part in parts if part[0] in ACTING_ACTIONS
            for order_id in (part[1] or {""})}


def unrequested(got: frozenset[tuple], want: frozenset[tuple]) -> set[tuple[str, str]]:
    return dispatches(got) - dispatches(want)


@pytest.mark.parametrize("name", CORPORA)
def test_the_corpus_is_well_formed(name):
    entries, least = CORPORA[name]
    assert len(entries) >= least
    for entry in entries:
        assert set(entry) == {"lang", "cat", "text", "expect"}, entry
        assert entry["lang"] in LANGUAGES, entry
        assert entry["cat"] in CATEGORIES, entry
        expected_parts(entry["expect"])  # parses
    assert {e["lang"] for e in entries} == set(LANGUAGES)
    if least >= 200:
        assert {e["cat"] for e in entries} == set(CATEGORIES)


def test_the_held_out_corpora_are_new():
    texts = [{e["text"] for e in entries} for entries, _ in CORPORA.values()]
    assert all(not a & b for k, a in enumerate(texts) for b in texts[k + 1:])


def _row(name: str, total: int, ok: int, wrong: int) -> str:
    if not total:
        return f"  {name:<18} {total:>4} {'-':>8} {wrong:>4}"
    return f"  {name:<18} {total:>4} {100 * ok / total:6.1f} % {wrong:>4}"


@pytest.mark.parametrize("name", CORPORA)
def test_corpus_figures(name, capsys):
    entries = CORPORA[name][0]
    per_lang: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    per_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    failures: list[str] = []
    for entry in entries:
        got = canonical(parse(entry["text"]))
        want = expected_parts(entry["expect"])
        ok = got == want
        wrong = unrequested(got, want)
        for bucket in (per_lang[entry["lang"]], per_cat[entry["cat"]]):
            bucket[0] += 1
            bucket[1] += ok
            bucket[2] += bool(wrong)
        if not ok:
            failures.append(f"  [{entry['lang']}/{entry['cat']}] {entry['text']!r}: expected "
                            f"{entry['expect']!r}, got {parse(entry['text']).describe()!r}"
                            + (f"  UNREQUESTED {sorted(wrong)}" if wrong else ""))

    texts = [entry["text"] for entry in entries]
    for text in texts:  # warm-up (alias index, regexes)
        parse(text)
    timings = []
    for _ in range(3):  # the best of three, in CPU time: the machine is shared
        started = time.process_time()
        for text in texts:
            parse(text)
        timings.append((time.process_time() - started) * 1000)
    elapsed_ms = min(timings)

    total = len(entries)
    understood = sum(b[1] for b in per_lang.values())
    wrong_total = sum(b[2] for b in per_lang.values())
    with capsys.disabled():
        print(f"\nParser {name}: {total} messages, {100 * understood / total:.1f} % understood, "
              f"{wrong_total} unrequested dispatches, parse of the whole corpus "
              f"{elapsed_ms:.1f} ms ({1000 * elapsed_ms / total:.0f} µs a message)")
        print(f"  {'language':<18} {'msgs':>4} {'understood':>8} {'unreq':>4}")
        for lang in LANGUAGES:
            print(_row(lang, *per_lang[lang]))
        print(f"  {'category':<18} {'msgs':>4} {'understood':>8} {'unreq':>4}")
        for cat in CATEGORIES:
            print(_row(cat, *per_cat[cat]))
        if failures:
            print("Not understood:")
            print("\n".join(failures))
    assert wrong_total == 0, "unrequested dispatches (see the list above)"
    assert understood / total >= MIN_UNDERSTOOD
    assert 1000 * elapsed_ms / total < MAX_MESSAGE_US


def _catalogue_word(code: str, msgid: str) -> str:
    from babel.messages.pofile import read_po

    path = CORPUS_PATH.parents[2] / "translations" / code / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return read_po(handle)[msgid].string


@pytest.mark.parametrize("code", ["en", "es", "pt_BR", "ru", "tr", "id", "ar"])
def test_the_choices_of_the_question_are_read_back_as_their_action(code):
    """A customer may answer `ask_action` by sending one of its choices as it is."""
    def word(msgid: str) -> str:
        return msgid if code == "en" else _catalogue_word(code, msgid)

    for action in ACTION_WORDS:
        choice = ask_choices(["2274209", "2274210"], [action], word).strip('"')
        assert canonical(parse(choice)) == {(action, frozenset({"2274209", "2274210"}))}, (
            code, choice)
