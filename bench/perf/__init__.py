"""Measuring models' speed and memory honestly: warm-up, sweeps, percentiles, device-synchronised timing."""
