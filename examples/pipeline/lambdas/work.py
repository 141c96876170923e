"""The scratch volume of the example's lambdas (their manifests mount an emptyDir at WORK_DIR)."""
import os


def work_dir() -> str:
    """Fresh for every run, gone after it."""
    path = os.environ.get("WORK_DIR", "/tmp")
    os.makedirs(path, exist_ok=True)
    return path
