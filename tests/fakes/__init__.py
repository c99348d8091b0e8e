"""Local stand-ins for the vendor's services (loopback only) used by the tests."""
