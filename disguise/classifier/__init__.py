"""The attribute classifier: a network that reads the 40 attributes off a face, in three roles
(the guide learned edits are fitted to, the chooser that picks the sliders, the judge that grades
them), each trained on other people."""
