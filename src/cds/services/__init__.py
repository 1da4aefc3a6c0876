"""The CDS Hooks model the rest of the shell shares: service definitions, the parsed request, the
call, and the typed answer (cards, suggestions, links)."""
