"""Shared test helpers: synthetic runs, sweeps and studies, page readers, a headless Chromium
driver and throwaway servers. Scripts and benchmarks import them too (run as modules from the
repository root)."""
