"""Export the JSON Schema of every topic model into ``schemas/jsonschema/``.

Run ``python -m schemas.export`` after changing a model; a test fails while the export is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas.topics import TOPICS

JSONSCHEMA_DIR = Path(__file__).parent / "jsonschema"


def rendered_schemas() -> dict[str, str]:
    """File name → JSON text, one per distinct model, in serialization mode (what producers emit)."""
    out: dict[str, str] = {}
    for spec in TOPICS.values():
        name = f"{spec.model.__name__}.json"
        schema = spec.model.model_json_schema(mode="serialization")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://borderwatch.example/schemas/{name}"
        out[name] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main() -> int:
    JSONSCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in rendered_schemas().items():
        (JSONSCHEMA_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {JSONSCHEMA_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
