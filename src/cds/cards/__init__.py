"""CDS Hooks cards from the engine's findings: summary, evidence, suggestions, links (wording only)."""

from cds.cards.render import CardContext, render_cards

__all__ = ["CardContext", "render_cards"]
