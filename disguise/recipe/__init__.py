"""The recipe: one command from a data folder to the folder the app serves (the VAE, three
classifiers on different people, the identity model, the sliders, the evaluation, the app's files
and a model card), resumable, refusing what it cannot do."""
