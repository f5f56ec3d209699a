# The cffi module built from src/bindings/build.py: the C ABI as is.
from typing import Any

ffi: Any
lib: Any
