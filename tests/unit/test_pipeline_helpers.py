"""Provider matching and the provider's command line."""
from types import SimpleNamespace

from app.integrations.panels.base import PanelOrder
from app.jobs.pipeline import match_provider, normalise_domain, render_provider_command


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
