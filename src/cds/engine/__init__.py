"""The guideline engine: pure functions from FHIR facts to findings (no I/O, no clock)."""
