"""Composing the face a witness remembers: the description's face space, breeding screens of faces
from the witness's picks, the session the Compose tab keeps, and a simulated witness to measure it."""
