"""The handler registry: the code a service definition's `myelin.handler` names."""

from __future__ import annotations

from cds.cards.guideline import guideline_response
from cds.cards.orders import orders_response
from cds.services.call import Handler

HANDLERS: dict[str, Handler] = {"guideline": guideline_response, "orders": orders_response}
