"""assess_orders(): the engine's entry point for order-select and order-sign."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cds.engine.assess import Assessment, finish
from cds.engine.facts import build_facts
from cds.engine.model import Topic
from cds.engine.orders import read_draft_orders
from cds.engine.rules_orders import order_findings
from cds.knowledge import Knowledge

# Every topic an order assessment can produce.
ORDER_TOPICS: tuple[Topic, ...] = (
    Topic.B12_DUPLICATE_THERAPY,
    Topic.FOLATE_WITHOUT_B12,
    Topic.B12_TESTING_RECOMMENDED,
    Topic.MAGNESIUM_TESTING_RECOMMENDED,
)


def assess_orders(
    resources: Mapping[str, Any],
    draft_orders: Any,
    patient_id: str,
    now: datetime,
    knowledge: Knowledge,
    unavailable: Mapping[str, str] | None = None,
    selections: Sequence[str] | None = None,
) -> Assessment:
    """Findings about the medication orders being placed, judged against the chart.

    `selections` None judges every draft order (order-sign); otherwise only the selected ones
    (order-select). Never raises on malformed resources.
    """
    facts = build_facts(resources, patient_id, now, knowledge, unavailable)
    if facts.deceased:
        return Assessment(findings=(), facts=facts)  # no advice for a patient who has died
    chart = resources if isinstance(resources, Mapping) else {}
    orders = read_draft_orders(draft_orders, selections, patient_id, knowledge, chart)
    findings = order_findings(facts, orders, knowledge)
    # Each order rule has its own topic, so there is at most one finding per topic.
    return Assessment(findings=tuple(finish(findings, facts, knowledge)), facts=facts)
