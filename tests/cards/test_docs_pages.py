"""Documentation pages that card links point to: they exist, escape, and show cut-offs in force."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from cds.cards import CardContext
from cds.config import load_settings
from cds.engine.model import Topic
from cds.http.app import create_app
from tests.cards.card_helpers import KNOWLEDGE, build_cards, one_of_each_topic


@pytest.mark.parametrize("topic", list(Topic))
def test_every_topic_has_a_page(client: FlaskClient, topic: Topic) -> None:
    response = client.get(f"/docs/topics/{topic.value}")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert KNOWLEDGE.topic(topic.value).display in page
    assert "<script" not in page


def test_topic_page_shows_cut_offs_and_sources(client: FlaskClient) -> None:
    page = client.get("/docs/topics/b12-deficiency").get_data(as_text=True)
    assert "180 ng/L" in page and "25 pmol/L" in page
    assert "/docs/sources/nice-ng239" in page
    assert "Oral cyanocobalamin 1000 micrograms daily" in page


def test_topic_page_shows_a_site_override() -> None:
    settings = load_settings(
        environ={}, database_url="sqlite://", cutoff_overrides={"b12_total_deficient": 200.0}
    )
    page = create_app(settings).test_client().get("/docs/topics/b12-deficiency").get_data(as_text=True)
    assert "200 ng/L (site override)" in page


def test_source_page_links_out_and_lists_what_cites_it(client: FlaskClient) -> None:
    page = client.get("/docs/sources/nice-ng239").get_data(as_text=True)
    assert 'href="https://www.nice.org.uk/guidance/ng239"' in page
    assert KNOWLEDGE.sources["nice-ng239"]["title"] in page
    assert "/docs/topics/b12-deficiency" in page


@pytest.mark.parametrize("path", ["/docs/topics/no-such-topic", "/docs/sources/%3Cscript%3E"])
def test_unknown_pages_are_a_clear_404(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json["resourceType"] == "OperationOutcome"
    assert "<script>" not in response.get_data(as_text=True)


def test_every_card_link_resolves_on_the_service(client: FlaskClient) -> None:
    ctx = CardContext("4c7f6a52-9d0e-4b1e-8f3a-2d5c6b7a8e9f", "p1", "http://localhost", KNOWLEDGE)
    cards = build_cards(one_of_each_topic(), ctx)
    urls = {c["source"]["url"] for c in cards} | {link["url"] for c in cards for link in c["links"]}
    local = [u for u in urls if u.startswith("http://localhost/")]
    assert len(local) > len(Topic)
    for url in local:
        assert client.get(urlsplit(url).path).status_code == 200, url
