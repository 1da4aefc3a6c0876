"""Storage: what must outlive a request or be shared by replicas, in one database."""
