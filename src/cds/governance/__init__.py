"""Governance: the audit of every card, and the figures a CDS committee reviews."""
