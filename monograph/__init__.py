"""The Django layer: serves the book and adapts simulations/ to the web, generically."""
