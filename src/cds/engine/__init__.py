"""The guideline engine: pure functions from the chart's facts to findings (no I/O, no clock)."""

from cds.engine.assess import Assessment, assess, assess_chart
from cds.engine.assess_orders import assess_orders, assess_orders_chart
from cds.engine.facts import PatientFacts

__all__ = ["Assessment", "PatientFacts", "assess", "assess_chart", "assess_orders", "assess_orders_chart"]
