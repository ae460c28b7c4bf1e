"""Pure rules of the product: no I/O, no frameworks."""
