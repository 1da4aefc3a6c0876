"""myelin-cds: a CDS Hooks 2.0 service for facial twitching and its nutritional causes."""

__version__ = "0.1.0"
