"""`cds serve`: the composed application, gunicorn settings and the hardened worker."""
