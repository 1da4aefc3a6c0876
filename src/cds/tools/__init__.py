"""Testing tools: fixture replay with golden diffs, FHIR traffic recording, the card preview page."""
