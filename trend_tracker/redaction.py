"""Credentials out of URLs, before a URL reaches a job graph, a command line or a log.

A URL carries a credential in its user information (``redis://user:<password>@host``)
or in a query parameter (``redis://host/0?password=<password>``,
``?X-Amz-Signature=...``): both are replaced by ``***``. The user name and every other
part stay, so the redacted URL still says where it points.

Passwords that should have been percent-encoded are still found: the user information runs
to the *last* ``@`` (a password may hold ``@``, ``/``, ``?`` or ``#``), unless that ``@``
lies in a well-formed query (``?client_name=a@b``), which is then a query.
"""

from __future__ import annotations

#: What replaces a credential.
REDACTED = "***"

#: A query parameter whose name holds one of these (case-insensitive) carries a credential.
SECRET_PARAMETER_PARTS = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "sig")


def is_secret_parameter(name: str) -> bool:
    """Whether a query parameter of that name carries a credential."""
    lowered = name.lower()
    return any(part in lowered for part in SECRET_PARAMETER_PARTS)


def _split(url: str) -> tuple[str, str | None, str, str | None]:
    """(scheme and ``://``, user information or None, the rest before the query, the
    query or None)."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return "", None, url, None
    question, at = rest.find("?"), rest.rfind("@")
    if 0 <= question < at and _well_formed(rest[question + 1:]):
        at = rest.rfind("@", 0, question)  # that "@" is in the query
    userinfo = rest[:at] if at >= 0 else None
    location, mark, query = rest[at + 1:].partition("?")
    return scheme + separator, userinfo, location, (query if mark else None)


def _well_formed(query: str) -> bool:
    return all("=" in pair for pair in query.split("&") if pair)


def _query(query: str, keep_secrets: bool) -> str:
    pairs = []
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        if equals and is_secret_parameter(name):
            if keep_secrets:
                pairs.append(f"{name}={REDACTED}")
            continue
        pairs.append(pair)
    return "&".join(pairs)


def redact_url(url: str) -> str:
    """``url`` with its password and its credential query parameters replaced by ``***``."""
    prefix, userinfo, location, query = _split(url)
    if userinfo is not None:
        user, colon, _ = userinfo.partition(":")
        prefix += f"{user}:{REDACTED}@" if colon else f"{user}@"
    suffix = "" if query is None else "?" + _query(query, keep_secrets=True)
    return prefix + location + suffix


def url_without_credentials(url: str) -> str:
    """``url`` without its user information and credential query parameters: where it
    points, to compare two URLs whatever credentials they carry."""
    prefix, _, location, query = _split(url)
    kept = "" if query is None else _query(query, keep_secrets=False)
    return prefix + location + (f"?{kept}" if kept else "")


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries a password or a credential query parameter (redacted or
    not)."""
    _, userinfo, _, query = _split(url)
    return (userinfo is not None and ":" in userinfo) or (
        query is not None and any(is_secret_parameter(pair.partition("=")[0])
                                  for pair in query.split("&") if "=" in pair))
