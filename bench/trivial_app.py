"""The comparison endpoint: a Flask handler that returns one static card and reads nothing."""

from __future__ import annotations

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
