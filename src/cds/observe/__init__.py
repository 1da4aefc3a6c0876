"""Operational signals: Prometheus metrics recorded by the HTTP, FHIR and trust layers."""
