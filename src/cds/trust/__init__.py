"""Trust: JWT verification, issuer key sets and the record of used token ids."""
