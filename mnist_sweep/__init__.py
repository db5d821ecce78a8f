"""mnist_sweep: Hydra-driven sweeps that search for tiny convnets on MNIST."""
