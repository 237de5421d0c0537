from portal_kit.cli import run_cli

from quality.main import MIGRATIONS_DIR, create_app
from quality.settings import Settings


def main() -> None:
    run_cli(
        name="quality",
        settings_factory=Settings,
        app_factory=create_app,
        migrations_dir=MIGRATIONS_DIR,
    )


if __name__ == "__main__":
    main()
