"""Turn engine findings into CDS Hooks cards, ordered critical, warning, info."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cds.cards.app_link import app_links
from cds.cards.catalog import CardCatalog, TopicInfo
from cds.cards.chart import ChartFacts, takes_any
from cds.cards.detail import detail_for
from cds.cards.ids import card_uuid
from cds.cards.suggestions import delete_suggestion, test_suggestion, treatment_suggestion
from cds.cards.summary import summary_for
from cds.cards.text import truncate
from cds.engine.model import Cause, Finding, Severity, TestRecommendation, Topic
from cds.engine.rules_orders import BEING_ORDERED

LABEL = "myelin-cds"
_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class CardContext:
    """Everything a card needs besides the finding; built once per call."""

    hook_instance: str
    patient_id: str
    base_url: str  # absolute base of this service, for documentation links
    catalog: CardCatalog
    notes: Mapping[str, str] = field(default_factory=dict)
    note_priority: Mapping[str, int] = field(default_factory=dict)
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    chart: ChartFacts = field(default_factory=ChartFacts)
    app_launch_url: str | None = None  # the SMART companion app's launch URL, when the site has one

    def topic_url(self, topic: str) -> str:
        return f"{self.base_url.rstrip('/')}/docs/topics/{topic}"

    def source_url(self, key: str) -> str:
        return f"{self.base_url.rstrip('/')}/docs/sources/{key}"


def _source(topic: TopicInfo, ctx: CardContext) -> dict[str, Any]:
    return {
        "label": LABEL,
        "url": ctx.topic_url(topic.code),
        "topic": {"system": ctx.catalog.topic_system, "code": topic.code, "display": topic.display},
    }


def _links(finding: Finding, topic: TopicInfo, ctx: CardContext) -> list[dict[str, str]]:
    links = [{"label": f"Rule: {topic.display}", "url": ctx.topic_url(topic.code), "type": "absolute"}]
    keys = dict.fromkeys([*finding.sources, *(e.source for e in finding.evidence if e.source)])
    for key in keys:
        source = ctx.sources.get(key)
        if source is None:
            continue
        title = str(source.get("title") or key)
        links.append(
            {"label": truncate(f"Source: {title}", 100), "url": ctx.source_url(key), "type": "absolute"}
        )
        url = source.get("url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            links.append({"label": truncate(f"Read: {title}", 100), "url": url, "type": "absolute"})
    return links + app_links(finding, ctx.app_launch_url)


def _override_reasons(topic: TopicInfo, ctx: CardContext) -> list[dict[str, str]]:
    system = ctx.catalog.override_system
    return [{"system": system, "code": code, "display": display} for code, display in topic.override_reasons]


def _card(
    finding: Finding,
    key: str,
    ctx: CardContext,
    summary: str,
    indicator: str,
    advice_first: Sequence[str] = (),
    advice_last: Sequence[str] = (),
    topic_advice: bool = True,
) -> dict[str, Any]:
    topic = ctx.catalog.topic(finding.topic.value)
    card: dict[str, Any] = {
        "uuid": card_uuid(ctx.hook_instance, key),
        "summary": truncate(summary),
        "indicator": indicator,
        "source": _source(topic, ctx),
    }
    shown_topic = topic if topic_advice else replace(topic, advice=())
    detail = detail_for(finding, shown_topic, ctx.notes, advice_first, advice_last, ctx.note_priority)
    if detail:
        card["detail"] = detail
    reasons = _override_reasons(topic, ctx)
    if reasons:
        card["overrideReasons"] = reasons
    card["links"] = _links(finding, topic, ctx)
    return card


def _new_tests(finding: Finding, ctx: CardContext) -> tuple[list[TestRecommendation], list[str]]:
    """Tests still worth ordering; and a note for each one dropped because a recent result exists."""
    keep, dropped = [], []
    seen: set[str] = set()
    for test in finding.tests:
        if test.loinc in ctx.chart.recent_loincs:
            dropped.append(
                f"{test.display} was not suggested: the chart has a recent result; "
                "review it (and any reason it could not be used) before ordering again."
            )
        elif test.key not in seen:
            seen.add(test.key)
            keep.append(test)
    return keep, dropped


def _name(order: Cause) -> str:
    return order.display.removesuffix(BEING_ORDERED)


def _removals(finding: Finding, hook_instance: str, key: str) -> list[dict[str, Any]]:
    orders = finding.remove_orders
    if len(orders) == 1:
        return [delete_suggestion(orders[0], hook_instance, key)]
    # Several orders: the label names each so the clinician can tell which one goes.
    return [
        delete_suggestion(o, hook_instance, key, truncate(f"Remove the duplicate B12 order: {_name(o)}", 80))
        for o in orders
    ]


def cards_for(finding: Finding, ctx: CardContext) -> list[dict[str, Any]]:
    """One card per finding; a B12 deficiency that also needs tests gets a companion test card."""
    key = finding.topic.value
    tests, dropped = _new_tests(finding, ctx)
    options = [t for t in finding.treatments if t.key in ctx.catalog.treatments]
    first: list[str] = []
    if finding.topic not in (Topic.B12_DEFICIENCY, Topic.FOLATE_WITHOUT_B12):
        options = []  # treatment choices belong to a confirmed deficiency only
    elif options and takes_any(ctx.chart, ctx.catalog.already_taking):
        options = []
        first.append("No treatment offered: an active medicine already contains vitamin B12.")
    elif options:
        first.append("Start vitamin B12 replacement: choose one of the options on this card.")

    # The card lists and orders only the tests it suggests; dropped ones are explained, and
    # advice that points at tests ("complete the missing tests below") goes when none are left.
    shown = replace(finding, tests=tuple(tests))
    keep_advice = not (finding.tests or finding.tests_elsewhere) or bool(tests)
    summary = summary_for(shown)
    card = _card(shown, key, ctx, summary, finding.severity.value, first, dropped, topic_advice=keep_advice)
    result = [card]
    if finding.remove_orders:
        card["suggestions"] = _removals(finding, ctx.hook_instance, key)
        card["selectionBehavior"] = "at-most-one"
        return result
    if options:
        card["suggestions"] = [
            treatment_suggestion(
                t.key,
                ctx.catalog.treatments[t.key],
                ctx.catalog.treatment_reason,
                t.recommended,
                ctx.patient_id,
                ctx.hook_instance,
                key,
            )
            for t in options
        ]
        card["selectionBehavior"] = "at-most-one"
        if tests:
            # A card has one selectionBehavior: the treatment choice is exclusive, the tests are
            # not, so the tests go on their own card that the clinician can accept in one click.
            companion = _card(
                replace(shown, causes=(), symptoms=(), treatments=(), notes=()),
                f"{key}:tests",
                ctx,
                f"{ctx.catalog.topic(key).display}: tests to complete the work-up",
                Severity.INFO.value,
                topic_advice=False,
            )
            companion["suggestions"] = [
                test_suggestion(t, ctx.patient_id, ctx.hook_instance, f"{key}:tests") for t in tests
            ]
            companion["selectionBehavior"] = "any"
            result.append(companion)
    elif tests:
        card["suggestions"] = [test_suggestion(t, ctx.patient_id, ctx.hook_instance, key) for t in tests]
        card["selectionBehavior"] = "any"
    return result


def build_cards(findings: Sequence[Finding], ctx: CardContext) -> list[dict[str, Any]]:
    ordered = sorted(findings, key=lambda f: _ORDER.get(f.severity, 3))  # stable: engine order kept
    cards: list[dict[str, Any]] = []
    seen: set[str] = set()
    for finding in ordered:
        if finding.topic.value in seen:  # one card per topic keeps uuids unique within a call
            continue
        seen.add(finding.topic.value)
        cards.extend(cards_for(finding, ctx))
    return sorted(cards, key=lambda c: _ORDER[Severity(c["indicator"])])
