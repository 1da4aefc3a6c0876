"""Answering a hook call: the service's handler reads and assesses, the cards render."""
