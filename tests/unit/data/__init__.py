"""Test data of the unit tier."""

from pathlib import Path

# Two RSA-4096 keys with an encryption subkey each, armored: the shape and size of Fedora's.
RSA4096_KEYS = [(Path(__file__).parent / f"rsa4096-{n}.asc").read_text() for n in (1, 2)]
