"""The models: one module per simulation, each declaring `SIMULATION`. The registry finds them."""
