"""Model specs: ordered placement units with exact tensors, from configs or safetensors headers."""
