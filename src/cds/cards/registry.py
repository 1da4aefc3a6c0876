"""The handler registry: the code a service definition's `myelin.handler` names."""

from __future__ import annotations

from cds.cards.guideline import guideline_response
from cds.cards.orders import orders_response
from cds.engine.assess import CHART_TOPICS
from cds.engine.assess_orders import ORDER_TOPICS
from cds.services.call import Handler

HANDLERS: dict[str, Handler] = {"guideline": guideline_response, "orders": orders_response}

# The topics each handler's cards can carry: discovery lists them with the site's mode.
HANDLER_TOPICS: dict[str, tuple[str, ...]] = {
    "guideline": tuple(t.value for t in CHART_TOPICS),
    "orders": tuple(t.value for t in ORDER_TOPICS),
}
