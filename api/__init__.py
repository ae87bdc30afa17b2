"""The read-only trending API and the live trends page (FastAPI)."""
