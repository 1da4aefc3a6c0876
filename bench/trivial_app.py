"""Comparison endpoints: a static card that reads nothing, and one that only parses the body."""

from __future__ import annotations

import json

from flask import Flask, jsonify, request

app = Flask(__name__)

_CARD = {
    "cards": [
        {
            "uuid": "5f0e4a52-7f57-4c1c-9b59-0d7b8a9f0e11",
            "summary": "Static card",
            "indicator": "info",
            "source": {"label": "static"},
        }
    ]
}


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.post("/static-card")
def static_card():
    request.get_data()  # consume the body as any POST handler must; parse nothing
    return jsonify(_CARD)


@app.post("/parse-only")
def parse_only():
    json.loads(request.get_data())  # what any CDS service must do at least: read the request
    return jsonify(_CARD)


@app.post("/floor")
def floor():
    json.loads(request.get_data())  # the least a CDS service does: read the request
    return jsonify(cards=[])
