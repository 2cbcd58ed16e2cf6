"""The REST API and the Evolution webhook receiver (FastAPI). Thin: parse, authorise, call core."""
