import sys

from portal_kit.cli import run_cli

from gateway.keys import write_new_key
from gateway.main import MIGRATIONS_DIR, create_app
from gateway.settings import Settings


def main() -> None:
    if sys.argv[1:2] == ["rotate-key"]:
        # a new signing key: published at once, signs on every replica within its rescan period
        print(write_new_key(Settings().signing_key_dir))
        return
    run_cli(
        name="gateway",
        settings_factory=Settings,
        app_factory=create_app,
        migrations_dir=MIGRATIONS_DIR,
    )


if __name__ == "__main__":
    main()
