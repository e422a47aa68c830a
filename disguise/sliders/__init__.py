"""The sliders: the bank of 40 attribute rows and every way a row is made (the seed's means, the
effects and their links, edits learned through the decoder, calibration, holding, rows per hair
state, picture rows), the editor that applies them (``z + sum_i alpha_i v_i``), how an edit is
measured, and the recipe that makes a bank from a trained model."""
