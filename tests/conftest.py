"""Shared test set-up: one torch thread, so that tests of small models are fast and their
timings do not depend on the machine's core count."""

import torch

torch.set_num_threads(1)
