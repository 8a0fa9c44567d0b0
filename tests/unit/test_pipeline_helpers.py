"""Provider matching and the provider's command line."""
from types import SimpleNamespace

from app.integrations.panels.base import PanelOrder
from app.domain.decide import match_provider, normalise_domain
from app.jobs.pipeline import render_provider_command


def provider(name, domains=(), aliases=()):
    return SimpleNamespace(name=name, domain_list=list(domains), alias_list=list(aliases))


def test_normalise_domain():
    assert normalise_domain("https://www.SMMRush.com/api/v2") == "smmrush.com"
    assert normalise_domain("smmrush.com:443") == "smmrush.com"
    assert normalise_domain(None) == ""


def test_match_by_domain_then_alias_then_name():
    rush = provider("smmrush", ["smmrush.com"], ["rush"])
    other = provider("peakerr", ["peakerr.com"])
    providers = [other, rush]
    assert match_provider(providers, "https://smmrush.com") is rush
    assert match_provider(providers, "Rush") is rush
    assert match_provider(providers, "peakerr") is other
    assert match_provider(providers, "unknown.example") is None
    assert match_provider(providers, None) is None


def order(order_id, external_id, quantity=100):
    return PanelOrder(id=order_id, status="completed", external_id=external_id,
                      quantity=quantity)


def test_one_line_per_order_with_the_route_template():
    items = [(order("2274209", "EXT-1"), "refill"), (order("2274210", "EXT-2"), "refill")]
    assert render_provider_command("{external_id} {action}", items) == \
        "EXT-1 refill\nEXT-2 refill"


def test_joined_external_ids_when_the_template_allows_it():
    items = [(order("1", "EXT-1"), "refill"), (order("2", "EXT-2"), "refill"),
             (order("3", "EXT-3"), "cancel")]
    assert render_provider_command("{action}: {external_ids}", items) == \
        "refill: EXT-1, EXT-2\ncancel: EXT-3"


def test_a_stored_route_template_that_is_not_valid_sends_the_default_command():
    items = [(order("2274209", "EXT-1"), "refill")]
    # 18 characters that str.format turned into 40,000
    assert render_provider_command("{order_id:_>40000}", items) == "EXT-1 refill"
    assert render_provider_command("{external_id.__class__}", items) == "EXT-1 refill"


def test_many_joined_ids_are_split_over_lines_within_bounds():
    items = [(order(str(k), f"EXT-{k:06d}"), "refill") for k in range(1000)]
    lines = render_provider_command("{action}: {external_ids}", items).splitlines()
    assert len(lines) > 1 and all(len(line) <= 1000 for line in lines)
    assert [i for line in lines for i in line.removeprefix("refill: ").split(", ")] == \
        [f"EXT-{k:06d}" for k in range(1000)]
