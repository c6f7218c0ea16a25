"""Views: what pages and routes show, as data (briefs, tiles, decks, images)."""
