"""What each kind of service reads and assesses: a service definition's `myelin.handler`.

A handler has two steps: `read` turns the call into the chart (the reader), and `assess` turns
the chart into findings (the engine). Everything before and after is the same for every
service (see `cds.answer.pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.answer.pipeline import Assessor, Reader, answer_call
from cds.engine import Assessment, assess_chart, assess_orders_chart
from cds.engine.assess import CHART_TOPICS
from cds.engine.assess_orders import ORDER_TOPICS
from cds.errors import BadRequest
from cds.knowledge import Knowledge
from cds.reader import Chart, read_chart
from cds.services.call import HookCall
from cds.services.response import Answer


@dataclass(frozen=True)
class ServiceHandler:
    """A handler's two steps; called with a call, it answers it (cds.answer.pipeline)."""

    read: Reader
    assess: Assessor
    topics: tuple[str, ...]  # the topics its cards can carry (discovery lists them with their mode)

    def __call__(self, call: HookCall) -> Answer:
        return answer_call(call, self.read, self.assess)


# What create_app accepts per handler name: a ServiceHandler, or any callable that answers.
Handler = Callable[[HookCall], Answer]


def patient_id(call: HookCall) -> str:
    value = call.request.patient_id
    if not value:
        raise BadRequest("context.patientId is required by this service", location="context.patientId")
    return value


def read_patient_chart(call: HookCall, knowledge: Knowledge) -> Chart:
    prefetch = call.prefetch
    return read_chart(
        prefetch.data,
        patient_id(call),
        call.now,
        knowledge,
        prefetch.key_states,
        judged=True,
        observation_keys=call.service.observation_keys or None,
    )


def _selections(call: HookCall) -> list[str] | None:
    """order-select judges the selected orders only; order-sign judges every draft order."""
    if call.request.hook != "order-select":
        return None
    value = call.request.context.get("selections")
    if not isinstance(value, list) or not value:
        raise BadRequest("context.selections must list the selected orders", location="context.selections")
    return [s for s in value if isinstance(s, str)]


def read_orders_chart(call: HookCall, knowledge: Knowledge) -> Chart:
    draft_orders: Any = call.request.context.get("draftOrders")
    if draft_orders is None:
        raise BadRequest("context.draftOrders must be a FHIR Bundle", location="context.draftOrders")
    selections = _selections(call)
    chart = read_chart(
        call.prefetch.data,
        patient_id(call),
        call.now,
        knowledge,
        call.prefetch.key_states,
        draft_orders,
        selections,
        judged=True,
        observation_keys=call.service.observation_keys or None,
    )
    orders = chart.orders
    if orders is not None and orders.problem is not None:
        message = f"context.draftOrders must be a FHIR Bundle ({orders.problem})"
        raise BadRequest(message, location="context.draftOrders")
    if orders is not None and orders.unknown_selections:
        # The hook defines draftOrders as holding every unsigned order, the selected ones included.
        index, selection = orders.unknown_selections[0]
        raise BadRequest(  # either side may be the one at fault: both are named
            f"context.selections[{index}] '{selection[:100]}' names no entry of context.draftOrders",
            location=(f"context.selections[{index}]", "context.draftOrders"),
        )
    return chart


def _assess_orders(chart: Chart, now: datetime, knowledge: Knowledge, _hidden: Collection[str]) -> Assessment:
    return assess_orders_chart(chart, now, knowledge)


HANDLERS: dict[str, Handler] = {
    "guideline": ServiceHandler(read_patient_chart, assess_chart, tuple(t.value for t in CHART_TOPICS)),
    "orders": ServiceHandler(read_orders_chart, _assess_orders, tuple(t.value for t in ORDER_TOPICS)),
}


def topics_of(handler: Handler) -> tuple[str, ...]:
    return handler.topics if isinstance(handler, ServiceHandler) else ()
