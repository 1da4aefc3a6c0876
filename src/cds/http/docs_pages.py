"""Small server-rendered documentation pages that card links point to.

GET /docs                 index of topics and sources
GET /docs/topics/<topic>  what the rule does, cut-offs in force, advice, sources
GET /docs/sources/<key>   one source and what in the knowledge cites it

Rendered from the knowledge files with every value HTML-escaped; no scripts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape

from flask import Blueprint, Response, current_app

from cds.answer.runtime import knowledge_for
from cds.errors import NotFound
from cds.knowledge import Knowledge

docs = Blueprint("docs", __name__)

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.45;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
    "padding:.3rem .5rem;text-align:left}small{color:#666}"
)
_KEY = re.compile(r"[a-z0-9_-]{1,80}")
_CERTAINTY = {"V": "verified in a source", "S": "secondary sources only", "U": "unverified: confirm locally"}


def _page(title: str, body: Iterable[str]) -> Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · myelin-cds</title><style>{_STYLE}</style></head><body>"
        f'<p><small><a href="{_base()}/docs">myelin-cds documentation</a></small></p><h1>{escape(title)}</h1>'
        + "".join(body)
        + "</body></html>"
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _shown(name: str) -> str:
    """A requested name echoed in an error only when it looks like a key."""
    return f"'{name}'" if _KEY.fullmatch(name) else "(name not shown: unexpected characters)"


def _base() -> str:
    """Links use the service's public base, so pages work behind a proxy with a path prefix."""
    return escape(current_app.extensions["cds"].base_url())


def _knowledge() -> Knowledge:
    return knowledge_for(current_app.extensions["cds"].settings)


def _list(items: Iterable[str]) -> str:
    rendered = "".join(f"<li>{item}</li>" for item in items)
    return f"<ul>{rendered}</ul>" if rendered else "<p>None.</p>"


def _source_item(key: str, knowledge: Knowledge) -> str:
    source = knowledge.sources.get(key)
    if source is None:
        return escape(key)
    item = f'<a href="{_base()}/docs/sources/{escape(key)}">{escape(source.get("title", key))}</a>'
    if source.get("citation"):
        item += f" <small>{escape(source['citation'])}</small>"
    return item


def _topic_link(code: str, display: str) -> str:
    return f'<a href="{_base()}/docs/topics/{escape(code)}">{escape(display)}</a>'


@docs.get("/docs")
def index() -> Response:
    catalog = _knowledge()
    knowledge = _knowledge()
    topics = (
        f"{_topic_link(code, info.display)} <small>{escape(code)}</small>"
        for code, info in catalog.topics.items()
    )
    sources = (_source_item(key, knowledge) for key in knowledge.sources)
    return _page(
        "Guideline topics and sources", ["<h2>Topics</h2>", _list(topics), "<h2>Sources</h2>", _list(sources)]
    )


@docs.get("/docs/topics/<topic>")
def topic_page(topic: str) -> Response:
    catalog = _knowledge()
    info = catalog.topics.get(topic)
    if info is None:
        raise NotFound(f"no documentation for topic {_shown(topic)}")
    knowledge = _knowledge()
    body = [
        f"<p><small>Topic code <code>{escape(info.code)}</code> in {escape(catalog.topic_system)}</small></p>"
    ]
    if info.rule:
        body += ["<h2>When this card appears</h2>", f"<p>{escape(info.rule)}</p>"]
    body += ["<h2>What to do</h2>", _list(escape(line) for line in info.advice)]
    rows = []
    for key in info.cutoffs:
        cutoff = knowledge.cutoff_info.get(key)
        if cutoff is None:
            continue
        value = knowledge.cutoffs.get(key, cutoff.value)
        changed = " (site override)" if value != cutoff.value else ""
        rows.append(
            f"<tr><td>{escape(cutoff.text)}</td><td>{value:g} {escape(cutoff.unit)}{changed}</td>"
            f"<td>{escape(_CERTAINTY.get(cutoff.certainty, cutoff.certainty))}</td>"
            f"<td>{_source_item(cutoff.source, knowledge)}</td></tr>"
        )
    if rows:
        body += [
            "<h2>Cut-offs in force</h2>",
            "<table><tr><th>Meaning</th><th>Value</th><th>Certainty</th><th>Source</th></tr>",
            *rows,
            "</table>",
        ]
    if topic == "b12-deficiency":
        options = (f"{escape(o['label'])}: {escape(o['dosageText'])}" for o in catalog.treatments.values())
        body += ["<h2>Treatment options offered</h2>", _list(options)]
    body += [
        "<h2>Override reasons</h2>",
        _list(f"{escape(display)} <small>{escape(code)}</small>" for code, display in info.override_reasons),
        "<h2>Sources</h2>",
        _list(_source_item(key, knowledge) for key in info.sources),
    ]
    return _page(info.display, body)


@docs.get("/docs/sources/<key>")
def source_page(key: str) -> Response:
    knowledge = _knowledge()
    source = knowledge.sources.get(key)
    if source is None:
        raise NotFound(f"no source with key {_shown(key)}")
    body = []
    if source.get("citation"):
        body.append(f"<p>{escape(source['citation'])}</p>")
    url = source.get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        body.append(f'<p><a href="{escape(url)}" rel="noopener noreferrer">{escape(url)}</a></p>')
    catalog = _knowledge()
    topics = [_topic_link(code, info.display) for code, info in catalog.topics.items() if key in info.sources]
    cutoffs = [escape(c.text) for c in knowledge.cutoff_info.values() if c.source == key]
    notes = [escape(knowledge.notes[n]) for n, s in knowledge.note_sources.items() if s == key]
    body += ["<h2>Topics</h2>", _list(topics), "<h2>Cut-offs</h2>", _list(cutoffs)]
    body += ["<h2>Advice and caveats</h2>", _list(notes)]
    return _page(str(source.get("title") or key), body)
