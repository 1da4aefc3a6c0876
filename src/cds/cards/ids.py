"""Deterministic card and suggestion ids: replays can be diffed and feedback matched."""

from __future__ import annotations

import uuid

# Fixed for the life of the product: changing it changes every card id ever issued.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://myelin-cds.github.io/cards")


def card_uuid(hook_instance: str, card_key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{hook_instance}|{card_key}"))


def suggestion_uuid(hook_instance: str, card_key: str, suggestion_key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{hook_instance}|{card_key}|{suggestion_key}"))
