"""Developer tool: regenerate the initial migration from storage/models.py.

Only while the schema is unreleased (one revision, 0001). Once a release has shipped, add new
revisions with ``alembic revision --autogenerate`` instead.
Run: ``python -m storage.migrations.regen_initial``
"""

import os
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent


def main() -> None:
    target = HERE / "versions" / "0001_initial.py"
    if target.exists():
        target.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/empty.db"
        cfg = Config()
        cfg.set_main_option("script_location", str(HERE))
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
    made = next((HERE / "versions").glob("0001_*.py"))
    made.rename(target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
