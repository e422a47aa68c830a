"""The face VAE: the model, its losses and training, the attribute vector bank, the editing engine
(``z + sum_i alpha_i v_i``) and the decoder exported to ONNX for the page."""
