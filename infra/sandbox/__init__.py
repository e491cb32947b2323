"""The embedded sandbox: emulated AWS (moto) on 127.0.0.1 for demos, tests and benchmarks."""
