"""The demo: a deterministic sentiment model, its instrumented service, traffic with fault
injection, synthetic history and the `demo up` bootstrap. Import the submodules directly."""

__all__: list[str] = []
