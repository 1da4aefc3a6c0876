"""CDS Hooks cards from guideline findings: summary, evidence, suggestions, links."""

from cds.cards.builder import CardContext, build_cards
from cds.cards.catalog import CardCatalog, load_catalog
from cds.cards.chart import ChartFacts, chart_facts

__all__ = ["CardCatalog", "CardContext", "ChartFacts", "build_cards", "chart_facts", "load_catalog"]
