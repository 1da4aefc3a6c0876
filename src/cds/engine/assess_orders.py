"""assess_orders(): the engine's entry point for order-select and order-sign."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cds.engine.assess import Assessment, finish, key_states
from cds.engine.caveats import choose_caveats
from cds.engine.facts import patient_facts
from cds.engine.guard import guard
from cds.engine.model import Topic
from cds.engine.rules_orders import order_findings
from cds.knowledge import Knowledge
from cds.reader import Chart, DraftOrders, KeyState, read_chart

# Every topic an order assessment can produce.
ORDER_TOPICS: tuple[Topic, ...] = (
    Topic.B12_DUPLICATE_THERAPY,
    Topic.FOLATE_WITHOUT_B12,
    Topic.B12_TESTING_RECOMMENDED,
    Topic.MAGNESIUM_TESTING_RECOMMENDED,
)
_NO_ORDERS = DraftOrders((), (), frozenset())


def assess_orders_chart(chart: Chart, now: datetime, knowledge: Knowledge) -> Assessment:
    """Findings about the medication orders being placed (`chart.orders`), judged against the chart."""
    facts = patient_facts(chart, now, knowledge)
    if facts.deceased:
        return Assessment(findings=(), facts=facts)  # no advice for a patient who has died
    findings = order_findings(facts, chart.orders or _NO_ORDERS, knowledge)
    # Each order rule has its own topic, so there is at most one finding per topic.
    checked = choose_caveats(guard(finish(findings, facts, knowledge), facts, knowledge), facts, knowledge)
    return Assessment(findings=tuple(checked), facts=facts)


def assess_orders(
    resources: Mapping[str, Any],
    draft_orders: Any,
    patient_id: str,
    now: datetime,
    knowledge: Knowledge,
    unavailable: Mapping[str, str | KeyState] | None = None,
    selections: Sequence[str] | None = None,
) -> Assessment:
    """Read the chart and the draft orders, then assess the orders. `selections` None judges
    every draft order (order-sign); otherwise only the selected ones (order-select)."""
    chart = read_chart(
        resources, patient_id, now, knowledge, key_states(unavailable), draft_orders, selections
    )
    return assess_orders_chart(chart, now, knowledge)
