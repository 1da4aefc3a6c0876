"""Render findings as CDS Hooks cards: summary, detail, suggestions, links. Wording only.

The engine has decided everything (which findings, in which order, which tests and treatments,
what the safety check withheld); a card only says it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from msgspec.structs import replace as with_fields

from cds.cards.app_link import app_links
from cds.cards.detail import detail_for
from cds.cards.ids import card_uuid
from cds.cards.suggestions import delete_suggestion, test_suggestion, treatment_suggestion
from cds.cards.summary import summary_for
from cds.cards.text import truncate
from cds.engine.model import Cause, Finding, Severity, Topic
from cds.engine.rules_orders import BEING_ORDERED
from cds.knowledge import Knowledge, TopicInfo
from cds.services.response import Card, Coding, Link, Source, Suggestion

LABEL = "myelin-cds"
START_TREATMENT = (
    "Start vitamin B12 replacement: the first option on this card is the one recommended for this patient."
)
ALREADY_TAKING = "No treatment offered: an active medicine already contains vitamin B12."


@dataclass(frozen=True)
class CardContext:
    """Everything a card needs besides the finding; built once per call."""

    hook_instance: str
    patient_id: str
    base_url: str  # absolute base of this service, for documentation links
    knowledge: Knowledge
    app_launch_url: str | None = None  # the SMART companion app's launch URL, when the site has one
    extension: dict[str, Any] | None = None  # every card's `extension` (the knowledge version)

    def topic_url(self, topic: str) -> str:
        return f"{self.base_url.rstrip('/')}/docs/topics/{topic}"

    def source_url(self, key: str) -> str:
        return f"{self.base_url.rstrip('/')}/docs/sources/{key}"


def _source(topic: TopicInfo, ctx: CardContext) -> Source:
    system = ctx.knowledge.topic_system
    return Source(label=LABEL, url=ctx.topic_url(topic.code), topic=Coding(topic.code, system, topic.display))


def _links(finding: Finding, topic: TopicInfo, ctx: CardContext) -> tuple[Link, ...]:
    links = [Link(f"Rule: {topic.display}", ctx.topic_url(topic.code), "absolute")]
    keys = dict.fromkeys([*finding.sources, *(e.source for e in finding.evidence if e.source)])
    for key in keys:
        source = ctx.knowledge.sources.get(key)
        if source is None:
            continue
        title = str(source.get("title") or key)
        links.append(Link(truncate(f"Source: {title}", 100), ctx.source_url(key), "absolute"))
        url = source.get("url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            links.append(Link(truncate(f"Read: {title}", 100), url, "absolute"))
    return (*links, *app_links(finding, ctx.app_launch_url))


def _override_reasons(topic: TopicInfo, ctx: CardContext) -> tuple[Coding, ...]:
    system = ctx.knowledge.override_system
    return tuple(Coding(code, system, display) for code, display in topic.override_reasons)


def _withheld_lines(finding: Finding) -> list[str]:
    return [
        f"{display} was not suggested: the chart has a recent result; review it (and any reason it "
        "could not be used) before ordering again."
        for display in finding.withheld_tests
    ]


def _card(
    finding: Finding,
    key: str,
    ctx: CardContext,
    summary: str,
    indicator: str,
    advice_first: Sequence[str] = (),
    advice_last: Sequence[str] = (),
    topic_advice: bool = True,
) -> Card:
    topic = ctx.knowledge.topic(finding.topic.value)
    shown_topic = topic if topic_advice else replace(topic, advice=())
    k = ctx.knowledge
    detail = detail_for(finding, shown_topic, k.notes, advice_first, advice_last)
    return Card(
        uuid=card_uuid(ctx.hook_instance, key),
        summary=truncate(summary),
        indicator=indicator,
        source=_source(topic, ctx),
        detail=detail or None,
        overrideReasons=_override_reasons(topic, ctx),
        links=_links(finding, topic, ctx),
        extension=ctx.extension,
    )


def _name(order: Cause) -> str:
    return order.display.removesuffix(BEING_ORDERED)


def _removals(finding: Finding, hook_instance: str, key: str) -> tuple[Suggestion, ...]:
    orders = finding.remove_orders
    if len(orders) == 1:
        return (delete_suggestion(orders[0], hook_instance, key),)
    # Several orders: the label names each so the clinician can tell which one goes.
    return tuple(
        delete_suggestion(o, hook_instance, key, truncate(f"Remove the duplicate B12 order: {_name(o)}", 80))
        for o in orders
    )


def cards_for(finding: Finding, ctx: CardContext) -> tuple[Card, Card | None]:
    """The finding's card, and for a B12 deficiency that also needs tests a companion test card."""
    key = finding.topic.value
    first = [ALREADY_TAKING] if finding.treatment_withheld else []
    if finding.treatments:
        first.append(START_TREATMENT)
    # Advice that points at tests ("complete the missing tests below") goes when none are left.
    withheld = _withheld_lines(finding)
    keep_advice = bool(finding.tests) or not (withheld or finding.tests_elsewhere)
    summary = summary_for(finding)
    card = _card(finding, key, ctx, summary, finding.severity.value, first, withheld, keep_advice)
    if finding.remove_orders:
        removals = _removals(finding, ctx.hook_instance, key)
        return with_fields(card, suggestions=removals, selectionBehavior="at-most-one"), None
    if not finding.treatments:
        if finding.tests:
            tests = tuple(test_suggestion(t, ctx.patient_id, ctx.hook_instance, key) for t in finding.tests)
            card = with_fields(card, suggestions=tests, selectionBehavior="any")
        return card, None
    options = tuple(
        treatment_suggestion(
            t.key,
            ctx.knowledge.treatments[t.key],
            ctx.knowledge.treatment_reason,
            t.recommended,
            ctx.patient_id,
            ctx.hook_instance,
            key,
        )
        for t in finding.treatments
    )
    card = with_fields(card, suggestions=options, selectionBehavior="at-most-one")
    if not finding.tests:
        return card, None
    # A card has one selectionBehavior: the treatment choice is exclusive, the tests are not,
    # so the tests go on their own card that the clinician can accept in one click.
    companion = _card(
        replace(finding, causes=(), symptoms=(), treatments=(), notes=()),
        f"{key}:tests",
        ctx,
        f"{ctx.knowledge.topic(key).display}: tests to complete the work-up",
        Severity.INFO.value,
        topic_advice=False,
    )
    companion_key = f"{key}:tests"
    tests = tuple(test_suggestion(t, ctx.patient_id, ctx.hook_instance, companion_key) for t in finding.tests)
    return card, with_fields(companion, suggestions=tests, selectionBehavior="any")


def render_cards(findings: Sequence[Finding], ctx: CardContext) -> tuple[Card, ...]:
    """The cards of these findings, in the engine's order (most severe first). Companion test
    cards are info cards: they follow the last card that is not."""
    main: list[Card] = []
    companions: list[Card] = []
    for finding in findings:
        card, companion = cards_for(finding, ctx)
        main.append(card)
        if companion is not None:
            companions.append(companion)
    split = sum(1 for card in main if card.indicator != Severity.INFO.value)
    return (*main[:split], *companions, *main[split:])


__all__ = ["CardContext", "Topic", "cards_for", "render_cards"]
