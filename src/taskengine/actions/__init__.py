"""One module per action kind, all behind the small interface in `base`."""
