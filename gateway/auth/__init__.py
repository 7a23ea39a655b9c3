"""Who is calling: bearer tokens and the keys that verify them; sealed cursors and the server secret behind them."""
