"""Training and evaluation of galseg deblenders."""
