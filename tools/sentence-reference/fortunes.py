"""The one-line fortunes both the reference and the benchmark use.

Debian's `fortunes` package puts its text files in /usr/share/games/fortunes; entries are
separated by lines holding a single `%`. The `.dat` files are indexes and the `.u8` files are
links, so both are skipped, as is anything that is not a regular file.

A "one-line fortune" is an entry whose bytes are all ASCII and which, once every run of ASCII
whitespace (space, tab, newline, CR, VT, FF) is collapsed to a single space and the ends are
trimmed, is 20-300 characters long. This is the selection the anchor
(shared/anchors/transformers.md) counts: 13,156 entries, in file order (files sorted by name,
entries in the order they appear). Only 3,701 entries are one line as written, too few for
the anchor's evaluation slice (entries 5,000-5,999). 74 selected entries keep control
characters (backspace overstrikes, a bell).
"""

import os
import re

WHITESPACE = re.compile(r"[ \t\n\r\x0b\x0c]+")

FORTUNES_DIR = "/usr/share/games/fortunes"


def fortune_files(directory=FORTUNES_DIR):
    """The text files, sorted by name: no .dat, no .u8, no symlinks, regular files only."""
    names = sorted(os.listdir(directory))
    paths = []
    for name in names:
        if name.endswith((".dat", ".u8")):
            continue
        path = os.path.join(directory, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        paths.append(path)
    return paths


def entries(path):
    """The raw entries of one file (the text between `%` lines), decoded as Latin-1 so every
    byte maps to one character and non-ASCII bytes stay non-ASCII."""
    text = open(path, "rb").read().decode("latin-1")
    current = []
    for line in text.split("\n"):
        if line == "%":
            yield "\n".join(current)
            current = []
        else:
            current.append(line)
    yield "\n".join(current)


def one_line_fortunes(directory=FORTUNES_DIR, min_chars=20, max_chars=300):
    """Every one-line fortune (see the module doc), in file order."""
    selected = []
    for path in fortune_files(directory):
        for entry in entries(path):
            if not entry.isascii():
                continue
            text = WHITESPACE.sub(" ", entry).strip(" ")
            if min_chars <= len(text) <= max_chars:
                selected.append(text)
    return selected
