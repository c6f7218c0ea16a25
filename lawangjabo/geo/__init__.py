"""Places: projections, fields of view, the river band, district boundaries."""
