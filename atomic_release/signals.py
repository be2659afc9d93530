"""Serving commands run until the user stops them."""

import signal
import threading


def until_stopped() -> None:
    """Block until SIGINT or SIGTERM, then give the signals back their handlers."""
    stop = threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.2):
            pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
