"""Developer tooling, kept out of the app: golden results, the bench, a local server, vendoring.

Nothing under `monograph/` or `simulations/` imports this package; tests and `make`
targets do.
"""
