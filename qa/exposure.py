"""Who can reach the web UI: this machine only, unless a password or an explicit opt-out says otherwise.

The UI reads every indexed document and (unless ``--read-only``) lets its users add and
remove documents. Bound to loopback (the default, ``127.0.0.1``) only local users reach
it. Binding any other address (``0.0.0.0``, a LAN address, a host name) exposes it to the
network, so :func:`check_exposure` refuses that unless

* a login is required: ``--auth USER:PASSWORD`` or ``QA_AUTH=USER:PASSWORD`` (Gradio's
  login page for the browser, ``Client(url, auth=(user, password))`` for the API), or
* the operator says another layer protects it: ``--insecure-public`` /
  ``QA_INSECURE_PUBLIC=1`` (a VPN, a reverse proxy with its own login).

A host *name* counts as public even when it happens to resolve to loopback today: the
check must not depend on DNS. The password travels in clear over plain HTTP; put a TLS
proxy in front when the network is not trusted.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

__all__ = ["ExposureError", "auth_checker", "check_exposure", "is_loopback", "parse_auth"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class ExposureError(ValueError):
    """A serving configuration we refuse; the message says how to fix it."""


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can connect to (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_auth(value: object) -> tuple[str, str] | None:
    """``"USER:PASSWORD"`` (or a SecretStr of it, or a pair) -> ``(user, password)``; None/"" -> None.

    Split at the first colon, so a password may contain colons; a user name may not.
    """
    if value is None:
        return None
    if isinstance(value, tuple):
        user, password = value
    else:
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        if not raw:
            return None
        if ":" not in raw:
            raise ExposureError("--auth / QA_AUTH must be USER:PASSWORD (a colon between the user name and the password)")
        user, password = raw.split(":", 1)
    if not str(user).strip() or not password:
        raise ExposureError("--auth / QA_AUTH needs a non-empty user name and a non-empty password (USER:PASSWORD)")
    return str(user).strip(), str(password)


def check_exposure(host: str, auth: object = None, insecure_public: bool = False) -> tuple[str, str] | None:
    """Validate a serving configuration; returns the credentials to require (None: no login).

    Raises :class:`ExposureError` for a non-loopback address with neither auth nor the
    explicit ``insecure_public`` opt-out, and for an empty host (Gradio would then fall
    back to ``GRADIO_SERVER_NAME``, which may be ``0.0.0.0``, silently bypassing this check).
    """
    if not host or not host.strip():
        raise ExposureError("no address to bind: pass --host 127.0.0.1 (this machine only) or another address with --auth")
    credentials = parse_auth(auth)
    if credentials is not None or insecure_public or is_loopback(host):
        return credentials
    raise ExposureError(
        f"refusing to serve on {host} without a password: anyone who can reach this machine could read your documents "
        "and (unless --read-only) add or remove them. Require a login with --auth USER:PASSWORD (or QA_AUTH=USER:PASSWORD), "
        "or pass --insecure-public if a VPN or an authenticating proxy already protects it. "
        "Use --host 127.0.0.1 to serve this machine only."
    )


def auth_checker(credentials: tuple[str, str]) -> Callable[[str, str], bool]:
    """Gradio ``auth`` callable comparing in constant time (no timing hints about the password)."""
    user, password = credentials[0].encode(), credentials[1].encode()

    def check(given_user: str, given_password: str) -> bool:
        ok_user = hmac.compare_digest(str(given_user).encode(), user)
        ok_password = hmac.compare_digest(str(given_password).encode(), password)
        return ok_user and ok_password

    return check
