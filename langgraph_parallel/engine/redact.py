"""Keep credentials out of records, errors and output."""

from __future__ import annotations

import os
import re

_SECRET_ENV = re.compile(r"(API_KEY|APIKEY|TOKEN|SECRET|PASSWORD)$", re.I)
_PATTERNS = (
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), "sk-***"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*"), r"\1 ***"),
    (
        re.compile(
            r"(?i)\b(api[_-]?key|token|secret|password)([\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]{8,}"
        ),
        r"\1\2***",
    ),
    # the password of a URL's user (redis://:pw@host, postgresql://user:pw@host/db)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/:@]*:)[^\s/@]+@"), r"\1***@"),
)


def redact(text: str) -> str:
    """`text` with secrets masked.

    Masked are the values of `*_API_KEY`, `*_TOKEN`, `*_SECRET` and `*_PASSWORD` environment
    variables, strings shaped like keys or bearer tokens, and the passwords in URLs.

    Example:
        ```python
        from langgraph_parallel.engine.redact import redact

        message = "401: Incorrect API key provided: sk-proj-abcdefgh12345678"
        assert redact(message) == "401: Incorrect API key provided: sk-***"
        assert redact("redis://:hunter22@cache:6379/0") == "redis://:***@cache:6379/0"
        ```
    """
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_ENV.search(name) and value in text:
            text = text.replace(value, "***")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
