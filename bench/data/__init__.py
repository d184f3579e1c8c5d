"""Reference data: the embedded worlds and image sets given as folders or .npz files."""
