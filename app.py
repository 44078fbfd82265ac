"""Start the web UI with defaults: ``python app.py``.

Settings come from ``QA_*`` environment variables (e.g. ``QA_INDEX``, ``QA_MAX_FILE_MB``);
``QA_HOST``/``QA_PORT`` pick the address (default 127.0.0.1:7860) and ``QA_READ_ONLY=1``
hides upload and remove. The default index is built from ``seeds/`` on first start.
"""

from __future__ import annotations

import os

from qa.ui import launch


def main() -> None:
    launch(
        host=os.environ.get("QA_HOST", "127.0.0.1"),
        port=int(os.environ.get("QA_PORT", "7860")),
        read_only=os.environ.get("QA_READ_ONLY", "").strip().lower() in {"1", "true", "yes", "on"},
    )


if __name__ == "__main__":
    main()
