"""Start the web UI with defaults: ``python app.py``.

Settings come from ``QA_*`` environment variables (e.g. ``QA_INDEX``, ``QA_MAX_FILE_MB``);
``QA_HOST``/``QA_PORT`` pick the address (default 127.0.0.1:7860, this machine only) and
``QA_READ_ONLY=1`` hides upload and remove. Any other address needs ``QA_AUTH=USER:PASSWORD``
(or ``QA_INSECURE_PUBLIC=1`` behind a VPN or an authenticating proxy); see qa/exposure.py.
The default index is built from ``seeds/`` on first start.
"""

from __future__ import annotations

import sys

from qa.exposure import ExposureError
from qa.settings import load_settings
from qa.ui import launch


def main() -> None:
    settings = load_settings()
    try:
        launch(settings=settings)
    except ExposureError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
