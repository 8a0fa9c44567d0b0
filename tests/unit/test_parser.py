"""The chat command parser: a table of realistic messages, then properties for any text."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.parser import (
    DEFAULT_ALIASES,
    FILLER_WORDS,
    MAX_TEXT_CHARS,
    Command,
    ParseResult,
    parse,
)

WORKSPACE_ALIASES = {"rr": "refill", "turbo": "speed", "stopit": "cancel", "wallet": "balance"}
CUSTOM_KEYWORDS = ("prices", "payment methods", "horario")


def read(text: str, **kwargs) -> ParseResult:
    kwargs.setdefault("aliases", WORKSPACE_ALIASES)
    kwargs.setdefault("custom_keywords", CUSTOM_KEYWORDS)
    return parse(text, **kwargs)


# (message, what it means: `ParseResult.describe()`; "" = no command at all)
TABLE: list[tuple[str, str]] = [
    # --- the grammar of docs/contracts.md "Command grammar", plain
    ("2274209 refill", "refill 2274209"),
    ("refill 2274209", "refill 2274209"),
    ("2274209,2274210 speed", "speed 2274209,2274210"),
    ("2274209, 2274210 speed", "speed 2274209,2274210"),
    ("cancel 2274209", "cancel 2274209"),
    ("2274209 cancel", "cancel 2274209"),
    ("speed 2274209", "speed 2274209"),
    ("2274209 status", "details 2274209"),
    ("status 2274209", "details 2274209"),
    ("2274209 details", "details 2274209"),
    ("2274209", "details 2274209"),
    ("2274209 2274210", "details 2274209,2274210"),
    ("balance", "balance"),
    ("help", "help"),
    ("2274209 info", "details 2274209"),
    ("check 2274209", "details 2274209"),
    ("2274209 refill 2274210 cancel", "refill 2274209; cancel 2274210"),
    ("refill 2274209 cancel 2274210", "refill 2274209; cancel 2274210"),
    ("2274209 refill speed", "refill 2274209; speed 2274209"),
    ("9999 refill", "refill 9999"),
    ("123456789012 refill", "refill 123456789012"),
    # --- separators and bulk lists
    ("2274209+2274210+2274211 refill", "refill 2274209,2274210,2274211"),
    ("2274209 + 2274210 refill", "refill 2274209,2274210"),
    ("2274209/2274210/2274211 cancel", "cancel 2274209,2274210,2274211"),
    ("2274209 / 2274210 speed", "speed 2274209,2274210"),
    ("refill 2274209 2274210 2274211", "refill 2274209,2274210,2274211"),
    ("Refill: 2274209, 2274210, 2274211", "refill 2274209,2274210,2274211"),
    ("2274209;2274210 refill", "refill 2274209,2274210"),
    ("2274209|2274210 refill", "refill 2274209,2274210"),
    ("2274209 - 2274210 - 2274211 refill", "refill 2274209,2274210,2274211"),
    ("2274209 2274209 2274209 refill", "refill 2274209"),
    ("2274209,2274210,2274209 speed", "speed 2274209,2274210"),
    ("2274209.2274210 refill", "refill 2274209,2274210"),
    ("refill\n2274209\n2274210\n2274211", "refill 2274209,2274210,2274211"),
    ("2274209\n2274210\n2274211\nrefill", "refill 2274209,2274210,2274211"),
    ("2274209\n2274210\n2274211 refill", "refill 2274209,2274210,2274211"),
    ("refill 2274209\n2274210\n2274211", "refill 2274209,2274210,2274211"),
    ("2274209,\n2274210,\n2274211\ncancel", "cancel 2274209,2274210,2274211"),
    ("speed:\n\n2274209\n\n2274210", "speed 2274209,2274210"),
    ("  2274209   2274210   speed  ", "speed 2274209,2274210"),
    ("2274209\t2274210\tcancel", "cancel 2274209,2274210"),
    (
        "refill " + ", ".join(str(2274200 + k) for k in range(30)),
        "refill " + ",".join(str(2274200 + k) for k in range(30)),
    ),
    # --- several commands in one message
    ("2274209 refill\n2274210 cancel", "refill 2274209; cancel 2274210"),
    ("2274209 refill\n2274210 refill", "refill 2274209,2274210"),
    ("2274209 refill\n2274210 speed\n2274211 cancel",
     "refill 2274209; speed 2274210; cancel 2274211"),
    ("refill 2274209\ncancel 2274210", "refill 2274209; cancel 2274210"),
    ("2274209\nrefill\n2274210\ncancel", "refill 2274209; cancel 2274210"),
    ("refill\n2274209\ncancel\n2274210", "refill 2274209; cancel 2274210"),
    ("2274209 refill, 2274210 speed, 2274211 cancel",
     "refill 2274209; speed 2274210; cancel 2274211"),
    ("2274209 refill; 2274210 cancel", "refill 2274209; cancel 2274210"),
    ("refill 2274209, cancel 2274210", "refill 2274209; cancel 2274210"),
    ("2274209 refill\nbalance", "refill 2274209; balance"),
    ("balance\nhelp", "balance; help"),
    ("2274209 refill\n2274210", "refill 2274209; details 2274210"),
    ("2274209 refill 2274210", "refill 2274209; details 2274210"),
    ("2274209 refill\n2274210\n2274211 cancel", "refill 2274209; cancel 2274210,2274211"),
    ("Hello!\n2274209 refill\nThanks", "refill 2274209"),
    ("2274209 refill\n2274209 speed", "refill 2274209; speed 2274209"),
    ("2274209 refill\n\n\n2274210 refill force", "refill 2274209; refill 2274210 force"),
    ("status 2274209 refill", "refill 2274209"),
    ("check 2274209 and refill please", "refill 2274209"),
    ("2274209 balance", "details 2274209; balance"),
    ("refill 2274209 and also check my balance", "refill 2274209; balance"),
    ("Hello sir 🙏\nThese orders dropped, please refill:\n2274209\n2274210\n2274211\nThank you",
     "refill 2274209,2274210,2274211"),
    ("2274209 speed\n2274210 speed\n2274211 speed\n2274212 cancel",
     "speed 2274209,2274210,2274211; cancel 2274212"),
    # --- case, punctuation, emojis, typos, filler
    ("2274209 REFILL", "refill 2274209"),
    ("2274209 ReFiLl", "refill 2274209"),
    ("#2274209 refill!!", "refill 2274209"),
    ("2274209!! refill", "refill 2274209"),
    ("order 2274209 refill pls", "refill 2274209"),
    ("Order ID: 2274209 — refill please 🙏", "refill 2274209"),
    ("id:2274209 refill", "refill 2274209"),
    ("order#2274209 refill", "refill 2274209"),
    ("2274209refill", "refill 2274209"),
    ("refill2274209", "refill 2274209"),
    ("(2274209) refill.", "refill 2274209"),
    ('"2274209" refill', "refill 2274209"),
    ("*2274209* _refill_", "refill 2274209"),
    ("🔥🔥 2274209 refill 🔥🔥", "refill 2274209"),
    ("2274209 ♻️ refill", "refill 2274209"),
    ("👉 2274209 speed 🚀", "speed 2274209"),
    ("2274209 refil", "refill 2274209"),
    ("2274209 refll", "refill 2274209"),
    ("2274209 reffil", "refill 2274209"),
    ("2274209 refilllll", "refill 2274209"),
    ("2274209 refiil", "refill 2274209"),
    ("2274209 rf", "refill 2274209"),
    ("2274209 re-fill", "refill 2274209"),
    ("2274209 cancle", "cancel 2274209"),
    ("2274209 cancell", "cancel 2274209"),
    ("2274209 canecl", "cancel 2274209"),
    ("2274209 speeeed", "speed 2274209"),
    ("2274209 speedup", "speed 2274209"),
    ("2274209 speed up", "speed 2274209"),
    ("2274209 speed-up", "speed 2274209"),
    ("2274209 SPEED UP!!!", "speed 2274209"),
    ("2274209 fast pls", "speed 2274209"),
    ("2274209 statsu", "details 2274209"),
    ("balnce", "balance"),
    ("BALANCE?", "balance"),
    ("what's my balance?", "balance"),
    ("Help!", "help"),
    ("menu", "help"),
    ("/start", "help"),
    ("/help", "help"),
    ("/balance", "balance"),
    ("/refill 2274209", "refill 2274209"),
    ("/refill@RelayDeskBot 2274209", "refill 2274209"),
    ("@RelayDeskBot 2274209 refill", "refill 2274209"),
    ("hello sir my order 2274209 is not started please speed up", "speed 2274209"),
    ("😡😡 2274209 not started yet!!! speed up pls 🙏", "speed 2274209"),
    ("hi admin, my followers dropped, order 2274209, refill please", "refill 2274209"),
    ("Order 2274209 not started yet", "details 2274209"),
    ("refill order no 2274209", "refill 2274209"),
    ("my order 2274209", "details 2274209"),
    ("refill", "refill"),
    ("refill please", "refill"),
    ("status?", "details"),
    # --- other languages
    ("2274209 recarga", "refill 2274209"),
    ("Hola, pedido 2274209 reposición por favor", "refill 2274209"),
    ("2274209 reposicion", "refill 2274209"),
    ("2274209 rellenar", "refill 2274209"),
    ("2274209 acelerar", "speed 2274209"),
    ("cancelar 2274209", "cancel 2274209"),
    ("2274209 estado", "details 2274209"),
    ("saldo", "balance"),
    ("ayuda", "help"),
    ("Olá, pedido 2274209 repor por favor", "refill 2274209"),
    ("2274209 reposição", "refill 2274209"),
    ("2274209 recarregar", "refill 2274209"),
    ("ajuda", "help"),
    ("2274209 рефилл", "refill 2274209"),
    ("2274209 восстановить", "refill 2274209"),
    ("Здравствуйте, заказ 2274209 отменить пожалуйста", "cancel 2274209"),
    ("2274209 ускорить", "speed 2274209"),
    ("2274209 ОТМЕНА", "cancel 2274209"),
    ("статус 2274209", "details 2274209"),
    ("баланс", "balance"),
    ("помощь", "help"),
    ("2274209 dolum", "refill 2274209"),
    ("2274209 nolu siparişim düştü telafi lütfen", "refill 2274209"),
    ("2274209 hızlandır", "speed 2274209"),
    ("2274209 HIZLANDIR", "speed 2274209"),
    ("2274209 hizlandir", "speed 2274209"),
    ("2274209 iptal", "cancel 2274209"),
    ("2274209 İPTAL", "cancel 2274209"),
    ("2274209 iptal et", "cancel 2274209"),
    ("2274209 durum", "details 2274209"),
    ("bakiye", "balance"),
    ("yardım", "help"),
    ("refill kar do bhai 2274209", "refill 2274209"),
    ("2274209 refill karo", "refill 2274209"),
    ("bhai 2274209 jaldi karo", "speed 2274209"),
    ("Salam bhai, order 2274209 abhi tak start nahi hua, jaldi karo please", "speed 2274209"),
    ("2274209 cancel karo", "cancel 2274209"),
    ("2274209 radd", "cancel 2274209"),
    ("2274209 wapas", "refill 2274209"),
    ("Kak, pesanan 2274209 isi ulang ya", "refill 2274209"),
    ("2274209 isiulang", "refill 2274209"),
    ("2274209 percepat", "speed 2274209"),
    ("2274209 batalkan", "cancel 2274209"),
    ("cek 2274209", "details 2274209"),
    ("cek saldo", "balance"),
    ("bantuan", "help"),
    ("2274209 إعادة تعبئة", "refill 2274209"),
    ("2274209 تعبئة", "refill 2274209"),
    ("السلام عليكم الطلب 2274209 إلغاء", "cancel 2274209"),
    ("2274209 الغاء", "cancel 2274209"),
    ("2274209 تسريع", "speed 2274209"),
    ("٢٢٧٤٢٠٩ إلغاء", "cancel 2274209"),
    ("مساعدة", "help"),
    ("رصيد", "balance"),
    ("２２７４２０９ refill", "refill 2274209"),
    # --- workspace aliases and custom commands, link, verify, force
    ("2274209 rr", "refill 2274209"),
    ("turbo 2274209", "speed 2274209"),
    ("2274209 stopit", "cancel 2274209"),
    ("wallet", "balance"),
    ("prices", "custom prices"),
    ("PRICES?", "custom prices"),
    ("payment methods", "custom payment methods"),
    ("Payment-Methods please", "custom payment methods"),
    ("horario", "custom horario"),
    ("prices\n2274209 refill", "custom prices; refill 2274209"),
    ("link alice", "link alice"),
    ("link @Alice_99", "link Alice_99"),
    ("/link alice.smm", "link alice.smm"),
    ("Link: bob", "link bob"),
    ("link", "link"),
    ("verify 483920", "verify 483920"),
    ("VERIFY 483920", "verify 483920"),
    ("vincular alice", "link alice"),
    ("2274209 refill force", "refill 2274209 force"),
    ("force refill 2274209", "refill 2274209 force"),
    ("refill force 2274209, 2274210", "refill 2274209,2274210 force"),
    ("2274209 refill FORCE", "refill 2274209 force"),
    ("2274209 cancel force\n2274210 cancel", "cancel 2274209 force; cancel 2274210"),
    # --- messages that are not commands
    ("Hi", ""),
    ("Good morning", ""),
    ("thanks!", ""),
    ("ok 👍", ""),
    ("🙏🙏🙏", ""),
    ("", ""),
    ("   \n\n  ", ""),
    ("Your panel is the best, thanks!", ""),
    ("How to refill?", ""),
    ("why is my refill so slow", ""),
    ("I paid 5000 but balance not updated", ""),
    ("I want to add 5000 rs to my account", ""),
    ("Can I get a discount on 10000 followers?", ""),
    ("can you tell me the price of 1000 followers", ""),
    ("I sent payment of $50 yesterday, please check", ""),
    ("my whatsapp is +90 532 123 45 67", ""),
    ("call me on +919876543210", ""),
    ("https://instagram.com/p/C1234567890/ this is my post link", ""),
    ("www.example.com/order/2274209", ""),
    ("my email is alice2274209@gmail.com", ""),
    ("the refill button on your website does not work for me at all", ""),
    ("please do not speed it is fine", ""),
    ("is the speed service good for tiktok", ""),
    ("When is the next 2025 sale", ""),
    ("I will cancel my subscription if this keeps happening", ""),
    ("12:30", ""),
    # a polite request takes the ids of the chatty sentence before it
    ("Hi, I ordered 1000 followers yesterday (order 2274209) but only got 500. Can you refill?",
     "refill 2274209"),
    # chatty ids no action takes: the order's details when named as orders, else nothing
    ("Hi, I ordered 1000 followers yesterday (order 2274209) but only got 500. Is that normal?",
     "details 2274209"),
    # --- a phrase that turns the order of ids and actions around is read on its own
    ("2274209 refill, cancel 2274210", "refill 2274209; cancel 2274210"),
    ("refill 2274209, 2274210 cancel", "refill 2274209; cancel 2274210"),
    ("refill 2274209, 2274210, 2274211", "refill 2274209,2274210,2274211"),
    # short numbers beside long ids are counts, in a list of ids they stay ids
    ("refill 2274209 pls 4500 gone", "refill 2274209"),
    ("2274209, 4500 refill", "refill 2274209,4500"),
    # corrections after a comma, and `only`
    ("cancel 2274209, sorry, I meant speed", "speed 2274209"),
    ("refill 2274209 and 2274210. wait no, only 2274209", "refill 2274209; details 2274210"),
    # a speed word that says how, an id said to be done, a quotation followed by a request
    ("refill kar do jaldi 2274209", "refill 2274209"),
    ("2274209 refill 2274210 fast", "refill 2274209; speed 2274210"),
    ("2274209 tamamlandı, 2274210 iptal edin", "details 2274209; cancel 2274210"),
    ("2274209 stuck, cancel 2274210", "details 2274209; cancel 2274210"),
    ('"Refill requested for 2 orders: 2274209, 2274210" but only 2274209 moved, refill 2274210',
     "details 2274209; refill 2274210"),
    ("el talab 2274209 ta3weed law sama7t", "refill 2274209"),
    ("kindly expedite order no. 2274209", "speed 2274209"),
    # our help text pasted back: its ids are our examples
    ('Send an order id and what you need, for example "2274209 refill", "2274209 speed" or '
     '"2274209 cancel".', ""),
    # --- refusals of the grammar: negations, questions
    ("don't cancel 2274209", "details 2274209"),
    ("Don't worry. Cancel 2274209", "cancel 2274209"),
    ("No, cancel 2274209 please", "cancel 2274209"),
    ("no cancel 2274209", "details 2274209"),
    ("do not refill 2274209", "details 2274209"),
    ("2274209 cancel mat karo", "details 2274209"),
    ("2274209 iptal etme", "details 2274209"),
    ("não cancelar 2274209", "details 2274209"),
    ("why did you cancel 2274209?", "details 2274209"),
    ("When will my order 2274209 start?", "details 2274209"),
    # --- wrong numbers
    ("12345678901234 refill", "refill"),
    ("refill 123", "refill"),
    ("2274209 refill 12345678901234", "refill 2274209"),
    ("2274209 refill 1000 followers dropped", "refill 2274209"),
    ("2274209 refill, ordered on 12/05/2025", "refill 2274209"),
    ("2274209 refill 10k", "refill 2274209"),
    ("2274209 refill 😭 lost 2000 followers", "refill 2274209"),
    ("2274209 speed 5.50 usd", "speed 2274209"),
    ("+79001234567 refill", "refill"),
]


@pytest.mark.parametrize(("message", "expected"), TABLE, ids=[repr(m)[:60] for m, _ in TABLE])
def test_table(message, expected):
    result = read(message)
    assert result.describe() == expected
    for command in result.commands:
        assert all(re.fullmatch(r"\d{4,12}", i) for i in command.order_ids)


def test_the_table_is_big_enough():
    assert len(TABLE) >= 150


# (message, the fragments reported as not understood, the subset that looks like a bad id)
UNKNOWN_TABLE: list[tuple[str, list[str], list[str]]] = [
    ("2274209 refill", [], []),
    ("12345678901234 refill", ["12345678901234"], ["12345678901234"]),
    ("refill 123", ["123"], ["123"]),
    ("123", ["123"], ["123"]),
    ("+79001234567", ["+79001234567"], ["+79001234567"]),
    ("2274209 refund", ["refund"], []),
    ("2274209 refill 1000 followers dropped", ["1000 followers", "dropped"], []),
    ("2274209 refill 10k", ["10k"], []),
    ("2274209 speed 5.50 usd", ["5.50 usd"], []),
    ("2274209 refill 2 times, 50% dropped", ["2", "times", "50%", "dropped"], []),
    ("227 refill", ["227"], ["227"]),
    ("2274209 force", ["force"], []),
    ("don't cancel 2274209", ["cancel"], []),
    ("2274209 refill, ordered on 12/05/2025", ["12/05/2025", "ordered", "on"], []),
    ("hello sir my order 2274209 is not started please speed up", ["is", "started"], []),
    ("Hi", [], []),
    ("I paid 5000 but balance not updated", [], []),
]


@pytest.mark.parametrize(("message", "unknown", "invalid"), UNKNOWN_TABLE,
                         ids=[m[:40] for m, _, _ in UNKNOWN_TABLE])
def test_what_is_not_understood_is_reported(message, unknown, invalid):
    result = read(message)
    assert result.unknown == unknown
    assert result.invalid_ids == invalid


def test_conversation_is_recorded_as_ignored():
    result = read("Hello, how are you today my friend?\n2274209 refill")
    assert result.describe() == "refill 2274209"
    assert result.ignored == ["Hello, how are you today my friend?"]


def test_commands_are_structured():
    result = read("2274209, 2274210 refill force\nprices\nlink Alice")
    assert result.commands == [
        Command("refill", ("2274209", "2274210"), True, None),
        Command("custom", (), False, "prices"),
        Command("link", (), False, "Alice"),
    ]
    assert result.is_command
    assert result.order_ids == ("2274209", "2274210")


def test_verify_code_is_not_an_order_id():
    result = read("verify 2274209")
    assert result.commands == [Command("verify", argument="2274209")]
    assert result.order_ids == ()


def test_too_many_ids_keeps_the_first_ones():
    ids = [str(1_000_000 + k) for k in range(12)]
    result = read(" ".join(ids) + " refill", max_ids=10)
    assert result.too_many_ids
    assert result.commands == [Command("refill", tuple(ids[:10]))]


def test_max_ids_counts_distinct_ids_across_commands():
    result = read("1111111 2222222 refill\n3333333 cancel\n1111111 speed", max_ids=2)
    assert result.too_many_ids
    assert result.describe() == "refill 1111111,2222222; speed 1111111"


def test_exactly_max_ids_is_fine():
    ids = [str(1_000_000 + k) for k in range(100)]
    result = read(",".join(ids) + " speed")
    assert not result.too_many_ids
    assert result.commands[0].order_ids == tuple(ids)


def test_workspace_alias_overrides_a_default():
    assert parse("2274209 fast", aliases={"fast": "details"}).describe() == "details 2274209"
    assert parse("2274209 fast").describe() == "speed 2274209"


def test_custom_keyword_overrides_a_default_alias():
    assert parse("menu", custom_keywords=["menu"]).describe() == "custom menu"


def test_alias_to_an_unknown_action_is_a_configuration_error():
    with pytest.raises(ValueError, match="unknown action"):
        parse("2274209 zap", aliases={"zap": "explode"})


def test_default_aliases_are_data_and_cover_the_required_languages():
    assert set(DEFAULT_ALIASES) >= {"refill", "speed", "cancel", "details", "balance", "help"}
    for words in (["dolum", "recarga", "reposição", "рефилл", "isi ulang", "إعادة تعبئة"],
                  ["hızlandır", "acelerar", "ускорить", "percepat", "jaldi", "تسريع"],
                  ["iptal", "cancelar", "отмена", "batal", "radd", "إلغاء"]):
        for word in words:
            assert any(word in aliases for aliases in DEFAULT_ALIASES.values()), word


def test_no_default_alias_is_also_filler():
    from app.domain.text import fold

    for action, aliases in DEFAULT_ALIASES.items():
        for alias in aliases:
            if " " not in alias:
                assert fold(alias) not in FILLER_WORDS, (action, alias)


def test_every_default_alias_is_read_as_its_action():
    for action, aliases in DEFAULT_ALIASES.items():
        for alias in aliases:
            if action in ("link", "verify"):
                expected = f"{action} someone"
                assert parse(f"{alias} someone").describe() == expected, alias
            elif action in ("balance", "help"):
                assert parse(alias).describe() == action, alias
            else:
                assert parse(f"2274209 {alias}").describe() == f"{action} 2274209", alias


def test_huge_input_is_cut_not_choked_on():
    result = parse("2274209 refill " + "blah " * 100_000)
    assert len("2274209 refill " + "blah " * 100_000) > MAX_TEXT_CHARS
    assert isinstance(result, ParseResult)


# --------------------------------------------------------------------------------------------
# Properties

order_ids = st.integers(min_value=0, max_value=10**12 - 1).map(str).filter(
    lambda s: 4 <= len(s) <= 12)
separators = st.sampled_from([",", ", ", " ", "  ", "\n", "\n\n", "+", " + ", "/", " / ",
                              ",\n", " ,", "\t"])
ACTION_WORDS = {
    "refill": ["refill", "Refill", "REFILL", "rf", "refil", "dolum", "recarga", "reposição",
               "рефилл", "isi ulang", "refill karo", "إعادة تعبئة", "telafi"],
    "speed": ["speed", "speed up", "speedup", "hızlandır", "hizlandir", "acelerar", "ускорить",
              "percepat", "jaldi", "تسريع"],
    "cancel": ["cancel", "Cancel", "iptal", "cancelar", "отмена", "batal", "radd", "إلغاء"],
    "details": ["status", "details", "info", "durum", "estado", "статус", "cek"],
}
actions = st.sampled_from(sorted(ACTION_WORDS)).flatmap(
    lambda a: st.tuples(st.just(a), st.sampled_from(ACTION_WORDS[a])))
decorations = st.sampled_from(["", "!", "!!", ".", " 🙏", " pls", " please", "?"])


@settings(database=None, max_examples=150, deadline=None)
@given(st.lists(order_ids, min_size=1, max_size=25), separators, actions,
       st.sampled_from(["before", "after", "after-line"]), decorations)
def test_ids_with_any_separator_and_action_before_or_after(ids, sep, action, where, tail):
    name, word = action
    joined = sep.join(ids)
    text = {"before": f"{word} {joined}", "after": f"{joined} {word}",
            "after-line": f"{joined}\n{word}"}[where] + tail
    result = parse(text)
    assert result.commands == [Command(name, tuple(dict.fromkeys(ids)))], text
    assert result.unknown == []


@settings(database=None, max_examples=100, deadline=None)
@given(st.lists(order_ids, min_size=1, max_size=10), separators)
def test_ids_alone_mean_details(ids, sep):
    result = parse(sep.join(ids))
    assert result.commands == [Command("details", tuple(dict.fromkeys(ids)))]


@settings(database=None, max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(order_ids, min_size=1, max_size=5), actions), min_size=1,
                max_size=6))
def test_one_line_per_command(lines):
    text = "\n".join(f"{', '.join(ids)} {word}" for ids, (_, word) in lines)
    expected: dict[str, list[str]] = {}
    for ids, (name, _) in lines:
        expected.setdefault(name, []).extend(ids)
    result = parse(text)
    assert {c.action: list(c.order_ids) for c in result.commands} == {
        name: list(dict.fromkeys(ids)) for name, ids in expected.items()}


@settings(database=None, max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_parse_never_raises_and_ids_are_4_to_12_digits(text):
    result = parse(text)
    for command in result.commands:
        assert command.order_ids == tuple(dict.fromkeys(command.order_ids))
        for order_id in command.order_ids:
            assert re.fullmatch(r"[0-9]{4,12}", order_id)
    assert len(result.order_ids) <= 100


@settings(database=None, max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200), st.integers(0, 5))
def test_max_ids_is_respected(text, max_ids):
    result = parse(text + " 1111 2222 3333 4444 5555 6666 refill", max_ids=max_ids)
    assert len(result.order_ids) <= max_ids


@settings(database=None, max_examples=100, deadline=None)
@given(st.from_regex(r"[a-z ,.!?\n]{0,60}", fullmatch=True),
       st.lists(order_ids, max_size=3), actions)
def test_case_does_not_matter(noise, ids, action):
    text = f"{' '.join(ids)} {action[1]} {noise}"
    assert parse(text).commands == parse(text.upper()).commands


@settings(database=None, max_examples=200, deadline=None)
@given(st.integers(min_value=10**12, max_value=10**20))
def test_phone_like_digit_runs_are_never_ids(number):
    result = parse(f"{number} refill")
    assert result.order_ids == ()
    assert str(number) in result.invalid_ids


@settings(database=None, max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(sorted(FILLER_WORDS)), min_size=0, max_size=6))
def test_filler_alone_is_never_a_command(words):
    assert parse(" ".join(words)).commands == []


def test_domain_modules_import_only_the_standard_library_and_each_other():
    """docs/contracts.md "Pure domain logic": imports neither Flask nor the database."""
    import ast
    import sys
    from pathlib import Path

    import app.domain

    for path in Path(app.domain.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or name.startswith("app.domain"), (
                    path.name, name)


def test_the_reply_texts_the_parser_reads_match_the_catalogues():
    """app/domain/reply_texts.py is generated from the catalogues (`make i18n` rewrites it)."""
    import importlib.util
    from pathlib import Path

    from app.domain.reply_texts import REPLY_TEXTS

    script = Path(__file__).resolve().parents[2] / "babel" / "reply_texts.py"
    spec = importlib.util.spec_from_file_location("reply_texts_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert REPLY_TEXTS == module.collect(), "run: .venv/bin/python babel/reply_texts.py"


@pytest.mark.parametrize(("message", "expected"), [
    ("Refill requested: 2274209", "details 2274209"),
    ("«Докрутка запрошена для 1 заказа: 2274209» — и где подписчики", "details 2274209"),
    ('"2 sipariş için iptal istendi: 2274209, 2274210" yazıyor', "details 2274209,2274210"),
    ("Pesanan ini tidak sedang berjalan, jadi tidak bisa dipercepat: 2274209", "details 2274209"),
    ("طُلب إلغاء هذا الطلب: 2274209", "details 2274209"),
])
def test_our_replies_pasted_back_in_any_language_ask_nothing(message, expected):
    assert read(message).describe() == expected


def test_our_question_pasted_back_is_asked_again():
    result = read('Qual você quer? Nada foi feito ainda. Envie uma destas mensagens: '
                  '"2274209 reposição" · "2274209 cancelar"')
    assert result.commands == []
    assert [(a.order_ids, a.actions) for a in result.ambiguous] == [
        (("2274209",), ("refill", "cancel"))]
