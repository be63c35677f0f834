"""`python -m bench.cluster` (`make bench-cluster`): a measured multi-node run on one machine.

2 web (gunicorn) + 3 worker + 2 scheduler processes against one PostgreSQL and one Redis,
behind a small bundled proxy; 500 browsers polling through a refresh cycle while one web
and one worker are killed with SIGKILL. See the README's "Production topology" section
and bench/RESULTS.md.
"""
