"""skelvis: see what recurrent action classifiers learn.

Joint sensitivity and anatomically constrained activation maximisation (Patil, Draper,
Beveridge, "Looking Under the Hood: Visualizing What LSTMs Learn"), denoising-autoencoder maps of
hidden states (Tempczyk and Bartołd) and unit-level analyses (Cho et al. 2020), on skeleton data.
"""
__version__ = "0.1.0"
