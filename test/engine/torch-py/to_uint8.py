"""Rewrites an .npy of pixel values (float32, as the test writes them) as uint8. usage: python to_uint8.py FILE.npy"""
import sys

import numpy as np

a = np.load(sys.argv[1])
np.save(sys.argv[1], a.astype(np.uint8))
