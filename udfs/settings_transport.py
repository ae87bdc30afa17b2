"""Hand the job's settings to the Python functions that run in Flink's workers.

The functions are serialised into the job graph; they carry the settings as JSON (secrets
included, since a worker must reach S3) and rebuild the same ``Settings`` in ``open``, so a
worker on another machine never depends on its own environment or ``.env`` files.
"""

from __future__ import annotations

import json

from trend_tracker.settings import Settings


def settings_to_json(settings: Settings) -> str:
    values = settings.model_dump(mode="json")
    for name, value in settings:
        if hasattr(value, "get_secret_value"):
            values[name] = value.get_secret_value()
    return json.dumps(values)


def settings_from_json(text: str) -> Settings:
    return Settings(_env_file=None, **json.loads(text))  # type: ignore[call-arg]
