"""Which GPUs, hosts or instances to buy or rent, and what a set of GPUs can serve, train or compress."""
