"""``python -m portal_dev run``: start the whole system (what ``make run`` calls).
``python -m portal_dev servers``: only PostgreSQL, NATS and S3 (for debugging)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else "run"
    if cmd == "run":
        from .run import main as run_main

        return run_main()
    if cmd == "servers":
        import os
        import signal
        import time
        from pathlib import Path

        from .servers import Servers

        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        s = Servers(Path(os.environ.get("PORTAL_DATA_DIR") or "./var"), profile="local")
        try:
            s.start()
            s.create_databases()
            print(f"postgres: {s.postgres.dsn()}", flush=True)
            print(f"nats:     {s.nats_url}", flush=True)
            print(f"s3:       http://{s.s3_endpoint} key={s.s3_access_key}", flush=True)
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            s.stop()
        return 0
    if cmd in ("backup", "restore"):
        from .backup import main as backup_main

        return backup_main(args)
    if cmd == "consistency":
        from .consistency import main as consistency_main

        return consistency_main(args[1:])
    print(
        "usage: python -m portal_dev [run|servers|backup DIR|restore DIR|consistency]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
