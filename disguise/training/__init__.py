"""How every model of the project trains: one run driver (a run folder, checkpoints, exact resume,
Ctrl-C, metrics, the learning-rate schedule) and the figures a run writes."""
