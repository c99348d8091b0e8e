"""Test harness: fake servers, an independent oracle, fault makers, process drivers. No tests here."""
