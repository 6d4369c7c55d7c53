"""Where each part of a model goes on given devices: the problem, its screen, the searches, the Plan."""
