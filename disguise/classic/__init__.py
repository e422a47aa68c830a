"""The seeds' classic VAEs with a 2-D latent: the four models, their data and training, the
latent-space figures, the stored test codes, and the Latent space tab's model."""
