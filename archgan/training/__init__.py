"""Training: config.py (training files), schedule.py, trainer.py (the loop), checkpoint.py, ema.py,
logging.py, run.py (run settings). Import from the modules themselves."""
