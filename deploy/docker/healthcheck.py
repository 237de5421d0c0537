"""Container HEALTHCHECK: GET http://127.0.0.1:<port>/healthz (or the path in argv[1]).

Standard library only (the slim image has no curl). The port is the service's own
``PORTAL_<SVC>_PORT`` (``SERVICE`` names the package), 8000 when unset.
"""

import os
import sys
import urllib.request

PREFIXES = {
    "gateway": "PORTAL_GATEWAY_",
    "catalog": "PORTAL_CATALOG_",
    "storage": "PORTAL_STORAGE_",
    "quality": "PORTAL_QUALITY_",
    "harvest_export": "PORTAL_HARVEST_",
    "feedback": "PORTAL_FEEDBACK_",
}


def main() -> int:
    prefix = PREFIXES.get(os.environ.get("SERVICE", ""), "PORTAL_")
    port = os.environ.get(f"{prefix}PORT", "8000")
    path = sys.argv[1] if len(sys.argv) > 1 else "/healthz"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=4) as resp:
            return 0 if resp.status == 200 else 1
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
