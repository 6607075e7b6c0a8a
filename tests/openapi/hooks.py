"""Schemathesis hooks for paywatch's docs/openapi.yaml (used by tests/openapi.rs).

`POST /v1/watches:batch` takes NDJSON (`application/x-ndjson`, or its other
name `application/jsonl`): a text body, one watch object per line. Schemathesis
has no serializer of its own for these media types; the text one sends the
generated string as it is.
"""

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")
schemathesis.serializer.alias("application/jsonl", "text/plain")
