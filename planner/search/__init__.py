"""Search primitives shared by placement and sizing: how a CP-SAT stage runs, range maxima."""
