"""The knowledge version on a card: which rules built it, for the EHR's records and the audit."""

# CDS Hooks lets a card carry `extension`; EHRs ignore keys they do not know. Discovery and
# /healthz name the version under the same key.
VERSION_EXTENSION = "io.github.myelin-cds.knowledge-version"
