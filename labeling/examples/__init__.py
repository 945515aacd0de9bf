"""Examples room: import and harvest, the examples browser."""
