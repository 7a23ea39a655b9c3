"""Who is calling: bearer tokens and the keys that verify them."""
