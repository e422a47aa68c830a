"""The face VAE: the model, its losses and training, and its decoder exported to ONNX for the
page."""
