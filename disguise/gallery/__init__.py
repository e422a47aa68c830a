"""A gallery of known faces: indexed once, a sighting found among a million in milliseconds
(docs/gallery.md). ``search`` is what the app calls; ``ingest`` adds photos."""
