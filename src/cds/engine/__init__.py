"""The guideline engine: pure functions from FHIR facts to findings (no I/O, no clock)."""

from cds.engine.assess import Assessment, assess
from cds.engine.assess_orders import assess_orders
from cds.engine.facts import PatientFacts

__all__ = ["Assessment", "PatientFacts", "assess", "assess_orders"]
