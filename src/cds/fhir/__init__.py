"""FHIR data for a call: prefetch resolution and the fallback client."""
