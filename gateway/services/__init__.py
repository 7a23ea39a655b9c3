"""The operations behind the routes: sessions and their files."""
