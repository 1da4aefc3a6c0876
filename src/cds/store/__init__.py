"""Storage: what must outlive a request (feedback, the record of used token ids)."""
