"""The `cds` commands beside `serve`, and the card preview page: fixture replay with golden diffs,
FHIR traffic recording, the database (`cds db`: its schema, the audit key, the retention purge),
the committee report (`cds report`) and the rules in force (`cds knowledge`)."""
