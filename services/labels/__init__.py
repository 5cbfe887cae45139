"""Labels from the floor: the factory's own decisions on cells, as training data for the next model."""
