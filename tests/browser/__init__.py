"""End-to-end tests: the real app under gunicorn, a real RQ worker, Debian's Chromium."""
