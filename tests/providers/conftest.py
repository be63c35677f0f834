"""Provider adapter tests: each adapter talks real HTTP to a local replay server.

The `replay` fixture lives in tests/replay.py; the test modules import it too, so the
suite also runs with `--noconftest`.
"""
from replay import replay_fixture  # noqa: F401  (the `replay` fixture)
