"""The benchmark's parts: data, the WAN proxy, the contenders, process measurement."""
