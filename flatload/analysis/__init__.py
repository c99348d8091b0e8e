"""The analyst layer: read-only queries on a store, bars, adjustment, indicators, journal features."""
