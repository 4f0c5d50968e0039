"""pytest plugins: they declare options and markers and wire fixtures; the work lives elsewhere."""
