"""Registering the service with moto, which knows only its own packages."""

import re
import threading

import moto.backend_index
import moto.backends

from atomic_release.local.marketplace_catalog.constants import SERVICE, SERVICE_URL
from atomic_release.local.marketplace_catalog.models import marketplace_catalog_backends

_installed = False
_lock = threading.Lock()


def _answer_for_the_catalog(original):
    """moto finds a service's backends by name through ``moto.backends.get_backend``, which only
    knows moto's own packages."""

    def get_backend(name):
        if name == SERVICE:
            return marketplace_catalog_backends
        return original(name)

    return get_backend


def install() -> None:
    """Register the service with moto once per process; later calls do nothing. moto matches a
    request's URL against ``moto.backend_index.backend_url_patterns`` and then asks the service's
    backend for its ``urls``."""
    global _installed
    with _lock:
        if _installed:
            return
        moto.backend_index.backend_url_patterns.insert(0, (SERVICE, re.compile(SERVICE_URL)))
        moto.backends.get_backend = _answer_for_the_catalog(moto.backends.get_backend)
        _installed = True
