"""Chart text on a card never becomes a link and never shows reordered, in real CommonMark and
GFM renderers: GitHub's cmark-gfm (autolinks on) and markdown-it (linkify on, IPs too, and off)."""

from __future__ import annotations

import copy
import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from cds.cards.text import md_escape, one_line
from cds.tools.fixture_replay import in_process_sender
from cds.tools.fixtures import Fixture, list_fixtures

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _markdown_it(linkify: bool) -> Callable[[str], str]:
    md = MarkdownIt("commonmark", {"linkify": linkify}).enable("table")
    if linkify:
        md.enable("linkify")
        md.linkify.set({"fuzzy_ip": True, "fuzzy_link": True, "fuzzy_email": True})
    return md.render


RENDERERS: dict[str, Callable[[str], str]] = {
    "cmark-gfm (GFM, autolinks)": lambda text: cmarkgfm.github_flavored_markdown_to_html(
        text, options=Options.CMARK_OPT_UNSAFE
    ),
    "cmark (CommonMark)": lambda text: cmarkgfm.markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE),
    "markdown-it, linkify on": _markdown_it(True),
    "markdown-it, linkify off": _markdown_it(False),
}
# Where chart text stands in a card's detail: a paragraph, a list item, a table cell.
PLACES: dict[str, Callable[[str], str]] = {
    "paragraph": lambda text: f"Seen: {text}\n",
    "list item": lambda text: f"- {text}\n",
    "table cell": lambda text: f"| Test | Result |\n|---|---|\n| {text} | 5 |\n",
}
PAYLOADS = [
    "evil@evil.example",
    "evil\\@evil.example",
    "contact evil@evil.com today",
    "evil.com/phish",
    "see evil.com",
    "//evil.example/x",
    "www.evil.example",
    "http://evil.example/x",
    "https://evil.example",
    "ftp://evil.example/f",
    "mailto:evil@evil.example",
    "xmpp:evil@evil.example",
    "10.0.0.1",
    "http://10.0.0.1:8080/",
    "пример.рф/путь",
    "evil.example:8080/x",
    "<http://evil.example>",
    "<evil@evil.example>",
    "[click](http://evil.example)",
    "[click][1]\n\n[1]: http://evil.example",
    "![x](http://evil.example/i.png)",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "a|evil.com|b",
    "`evil.com`",
    "``evil.com` x",
    "evil.com`",
    "evil\u200b.com/phish",
    "evil.\u202ecom",
    "Metformin 500 mg (since 2024-03-01) www\u200c.evil.com",
    "B12 180 pg/mL 1.2.3.4",
]


def _links(rendered: str) -> list[str]:
    return re.findall(r"<a\b[^>]*>", rendered) + re.findall(r"<img\b[^>]*>", rendered)


def _shown(rendered: str) -> str:
    """The text a reader sees (tags dropped, entities decoded, whitespace collapsed)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", rendered)).split())


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_chart_text_is_never_a_link_and_shows_as_written(payload: str, place: str, renderer: str) -> None:
    rendered = RENDERERS[renderer](PLACES[place](md_escape(payload)))
    assert _links(rendered) == [], rendered
    # Every word of the text is shown as written, invisible characters removed ("|" in a
    # table cell too). CommonMark alone has no tables: its table is a paragraph of raw text.
    if not (place == "table cell" and renderer.startswith("cmark (")):
        for word in one_line(payload).split():
            assert word in _shown(rendered), (word, rendered)


LINKISH = st.sampled_from([*"ae.@/:w1|`\\ <>[]()!*_#-", "com", "www", "http", "mailto:", "10"])


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(LINKISH, max_size=16))
def test_no_mix_of_link_characters_makes_a_link(parts: list[str]) -> None:
    escaped = md_escape("".join(parts))
    for place in PLACES.values():
        for render in RENDERERS.values():
            rendered = render(place(escaped))
            assert _links(rendered) == [], (escaped, rendered)


INVISIBLE = "\u202e\u2066\u200b\u200d\u2069\u202a\u200f\ufeff"


def _with_invisible(value: Any, extra: str) -> Any:
    """Every display text of a chart with invisible characters (and `extra`) worked into it."""
    if isinstance(value, dict):
        return {
            k: (f"{INVISIBLE[:4]}{v[: len(v) // 2]}{INVISIBLE[4:]}{v[len(v) // 2 :]}{extra}"
                if k in ("display", "text", "unit") and isinstance(v, str) else _with_invisible(v, extra))
            for k, v in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [_with_invisible(v, extra) for v in value]
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _fixtures() -> list[Fixture]:
    return [f for f in list_fixtures(FIXTURES) if f.service == "deficiency-screen"]


def test_chart_text_in_every_card_shows_no_invisible_characters_and_no_new_links() -> None:
    send = in_process_sender()
    checked = 0
    for fixture in _fixtures():
        status, clean = send(fixture)
        hostile = copy.copy(fixture)
        object.__setattr__(hostile, "request", {**fixture.request,
                                                "prefetch": _with_invisible(fixture.request.get("prefetch"),
                                                                            " evil.com/phish")})  # fmt: skip
        hostile_status, answer = send(hostile)
        assert hostile_status == status == 200, fixture.name
        texts = list(_strings(answer))
        assert not [t for t in texts if any(ch in t for ch in INVISIBLE)], fixture.name
        own_links = {link for card in clean["cards"] for render in RENDERERS.values()
                     for link in _links(render(card.get("detail", "")))}  # fmt: skip
        for card in answer["cards"]:
            for render in RENDERERS.values():
                shown_links = set(_links(render(card.get("detail", ""))))
                assert shown_links <= own_links, (fixture.name, card["detail"])
            checked += 1
    assert checked > 20  # the fixtures' cards, each checked in every renderer
