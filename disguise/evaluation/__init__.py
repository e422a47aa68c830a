"""How good a model is: reconstruction, its sliders graded by a judge that chose none of them,
the photo view judged beside the model view, identity kept after each edit, and the report."""
