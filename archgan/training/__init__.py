"""Training, as small parts (README "Layout" has the map):

    config.py   training files (schema from the option table and the loss and metric registries)
    plan.py     RunPlan: the schedule and every check that needs no tensor (torch-free)
    run.py      RunSettings: everything a run was started with, saved as run.json (torch-free)
    files.py    the names of a run folder's and a checkpoint's files (torch-free)
    state.py    TrainState: networks, EMA, optimizers, counters, RNG, data order
    phases.py   what a step does, as data: D ×n_critic, lazy regularizers, G, EMA
    step.py     train_step: the phases due at one step
    trainer.py  Trainer: the parts put together, train_step() and the loop
    hooks.py    samples, metrics, checkpoints, logs and the progress bar around the steps
    checkpoint.py, ema.py, distributed.py, logging.py, speed.py

Import from the modules themselves; importing this package imports nothing else."""
