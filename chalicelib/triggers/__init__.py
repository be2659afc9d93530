"""How a release starts: the poller and cadence (``detect``), the webhook, Fedora's events, and ``starter``."""
