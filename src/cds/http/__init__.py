"""HTTP: the Flask app factory and routes, request parsing and limits, errors, documentation pages."""
