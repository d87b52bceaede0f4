"""Developer tooling (benchmarks, local servers): not part of the app."""
