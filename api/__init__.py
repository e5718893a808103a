"""HTTP front door: auth, validation, routing, enqueue, relay of results and streams."""
