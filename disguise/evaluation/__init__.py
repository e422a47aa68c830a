"""How good a model is: reconstruction, edit success by an independent judge, the photo view
judged beside the model view, identity kept after each edit, and the report."""
