"""The alert rules of a system (its description's `[alerts]`) and the machinery that proves them."""
