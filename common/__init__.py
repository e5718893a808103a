"""What the API and the workers both speak: job envelope, channel events, Redis keys, errors, pricing."""
