"""Context assembly: pure assembly (assembly.py), where a context ends (targets.py), the answer (build.py)."""
