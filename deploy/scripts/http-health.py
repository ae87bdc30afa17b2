#!/usr/bin/env python3
"""Container health check: exit 0 when every URL given answers HTTP 2xx within 3 s.

Used by the compose healthchecks of the images that have Python but no curl.
"""

import sys
import urllib.request


def healthy(url: str) -> bool:
    """True when ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 200 <= response.status < 300
    except OSError:
        return False


if __name__ == "__main__":
    urls = sys.argv[1:]
    if not urls:
        sys.exit("usage: http-health URL [URL ...]")
    sys.exit(0 if all(healthy(url) for url in urls) else 1)
